#pragma once

// Runs each guest as its own haven-vmm process and watches it: start (the config written to
// STATE/run/NAME.json; the serial console on a socket, STATE/run/NAME.console.sock, which the
// watcher relays into STATE/logs/NAME.console and input goes to; haven-vmm's own messages to
// STATE/logs/NAME.vmm.log), stop (SIGTERM, then SIGKILL after a timeout), kill, pause,
// resume and snapshot (through the VMM's control socket, STATE/run/NAME.control.sock: the
// vCPUs park and the devices drain; SIGSTOP/SIGCONT for a VMM without one), and a thread per
// process that waits on its pidfd and records how it ended. Nothing is restarted silently: a VMM
// that dies unasked is "crashed", with the reason its log gives. Every state change is written to
// STATE/status/NAME.json and reported to a listener. VMM processes outlive the daemon; a new daemon
// adopts the ones still running.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "daemon/cgroups.h"
#include "daemon/vm_record.h"
#include "store/key_handoff.h"
#include "vmm/control_protocol.h"

namespace haven::daemon {

struct SupervisorPaths {
  std::string state;  // run/, logs/, status/ live here
  std::string vmm;    // the haven-vmm executable
  // Guests' RAM may add up to this times the host's memory (checked at start).
  double memory_overcommit = 1.5;
  bool cgroups = true;  // put each VMM in cgroups haven/NAME with its limits
  // Between the SIGTERM that stops a VMM and the SIGKILL if it has not ended.
  std::chrono::milliseconds term_grace = std::chrono::seconds(10);
  std::string run_dir() const { return state + "/run"; }
  std::string log_dir() const { return state + "/logs"; }
  std::string status_dir() const { return state + "/status"; }
  std::string console_log(const std::string& name) const {
    return log_dir() + "/" + name + ".console";
  }
  std::string vmm_log(const std::string& name) const { return log_dir() + "/" + name + ".vmm.log"; }
  std::string console_socket(const std::string& name) const {
    return run_dir() + "/" + name + ".console.sock";
  }
  std::string control_socket(const std::string& name) const {
    return run_dir() + "/" + name + ".control.sock";
  }
  // Disk images havend made for a guest (restored from a snapshot); removed with the guest.
  std::string disk_dir(const std::string& name) const { return state + "/disks/" + name; }
};

class Supervisor {
 public:
  using Listener = std::function<void(const std::string& name, const VmStatus& status)>;

  // Makes the directories, loads the recorded statuses and adopts VMMs still running.
  static Result<std::unique_ptr<Supervisor>> open(SupervisorPaths paths, Listener listener);
  // Stops watching; the guests keep running (the next daemon adopts them).
  ~Supervisor();

  // Boots the guest, or with `restore_from` continues the one saved in that snapshot
  // directory (the definition must match it: see daemon/restore.h).
  Result<void> start(const VmDefinition& definition,
                     const std::optional<std::string>& restore_from = std::nullopt);
  // Presses the guest's ACPI power button and waits up to `grace` for it to shut down; then
  // SIGTERM, which stops the guest where it is and ends the VMM, and SIGKILL if that has not
  // ended it within 10 s. A paused guest or a VMM without a control socket gets the SIGTERM
  // at once, and the SIGKILL after `grace`.
  Result<void> stop(const std::string& name, std::chrono::milliseconds grace);
  Result<void> kill(const std::string& name);
  Result<void> pause(const std::string& name);
  Result<void> resume(const std::string& name);
  // Saves the running or paused guest into `dir` (absolute), which its VMM writes; the guest
  // carries on. Answers what the VMM reported (bytes written, pause time).
  Result<vmm::control::SnapshotAnswer> snapshot(const std::string& name, const std::string& dir);
  // Sends one request to the running or paused guest's VMM (vmm/control_socket.h).
  Result<nlohmann::json> control(const std::string& name, const nlohmann::json& request,
                                 std::chrono::milliseconds timeout);
  // Reserves the guest for `what` (a backup): until release(), start() and other reservations
  // are refused with a "state:" error naming it. Stop and kill still work.
  Result<void> reserve(const std::string& name, const std::string& what);
  void release(const std::string& name);
  // The unlocked keys of the repository the guest's disk is restored from, handed to its
  // VMM at each start (store/key_handoff.h). Kept in memory only (nullopt forgets them):
  // after a daemon restart, a guest whose restore has not completed needs them again.
  void set_repo_keys(const std::string& name, std::optional<store::KeyHandoff> keys);
  // What the running guest's VMM counts: per vCPU its CPU time and KVM's exit counters, per
  // virtio device the bytes it moved (the control socket's stats op).
  Result<nlohmann::json> vmm_stats(const std::string& name);
  // Bytes typed into the guest's serial console.
  Result<void> send_console_input(const std::string& name, std::span<const uint8_t> bytes);
  VmStatus status(const std::string& name) const;
  const SupervisorPaths& paths() const { return m_paths; }
  const Cgroups& cgroups() const { return m_cgroups; }
  // Watcher threads held (running VMMs, plus ended ones not joined yet).
  size_t watcher_count() const {
    MutexLock lock(m_mutex);
    return m_watchers.size();
  }
  // Waits until the guest is no longer running (for tests and `stop`); false on timeout.
  bool wait_until_down(const std::string& name, std::chrono::milliseconds timeout);
  // Drops a stopped guest's records, config and logs (its definition is being deleted).
  Result<void> forget(const std::string& name);

  struct Process;  // one watched haven-vmm
  Supervisor(SupervisorPaths paths, Listener listener);

 private:
  void set_status(const std::string& name, VmStatus status) HAVEN_REQUIRES(m_mutex);
  void watch(const std::string& name, std::shared_ptr<Process> process) HAVEN_REQUIRES(m_mutex);
  void on_exit(const std::string& name, const std::shared_ptr<Process>& process, int status,
               bool known);
  Result<void> signal(const std::string& name, int signo, VmState from, VmState to);
  // The VMM's control socket; for one this daemon started, once the VMM has made it (a request
  // right after `start` would otherwise find none); nullopt for a VMM of an older havend.
  Result<std::optional<std::string>> control_socket_of(const std::string& name,
                                                       const std::shared_ptr<Process>& process);
  // pause/resume through the control socket (or the signal, for a VMM without one).
  Result<void> pause_or_resume(const std::string& name, bool pause);

  SupervisorPaths m_paths;
  Listener m_listener;
  mutable Mutex m_mutex;
  std::condition_variable m_changed;
  std::map<std::string, VmStatus> m_status HAVEN_GUARDED_BY(m_mutex);
  std::map<std::string, std::shared_ptr<Process>> m_processes HAVEN_GUARDED_BY(m_mutex);
  std::map<std::string, std::string> m_reserved
      HAVEN_GUARDED_BY(m_mutex);  // guest -> what holds it
  std::map<std::string, store::KeyHandoff> m_repo_keys
      HAVEN_GUARDED_BY(m_mutex);  // guest -> its restore's keys
  Result<void> check_memory(const VmDefinition& definition) const HAVEN_REQUIRES(m_mutex);
  // Each disk is free for this guest: no other process holds a lock on it that its VMM's
  // would conflict with (block/image_file.h); the error names the guest (or process) holding it.
  Result<void> check_disks_free(const VmDefinition& definition) const HAVEN_REQUIRES(m_mutex);

  Cgroups m_cgroups;
  UniqueFd m_shutdown;  // an eventfd the watcher threads also poll
  struct Watcher {
    std::jthread thread;
    std::shared_ptr<std::atomic<bool>> done;  // set as the thread ends
  };
  std::list<Watcher> m_watchers HAVEN_GUARDED_BY(m_mutex);
};

}  // namespace haven::daemon
