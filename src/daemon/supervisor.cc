#include "daemon/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/bytes.h"
#include "base/file_lock.h"
#include "base/log.h"
#include "base/sys.h"
#include "base/unix_socket.h"
#include "block/image_file.h"
#include "daemon/exit_reason.h"
#include "launch/vmm_process.h"
#include "vmm/console_log.h"
#include "vmm/control_protocol.h"
#include "vmm/control_socket.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace haven::daemon {

struct Supervisor::Process {
  pid_t pid = 0;
  UniqueFd console;     // connected to haven-vmm's console socket (guarded by m_mutex)
  uint64_t memory = 0;  // the guest's RAM, for the overcommit check
  UniqueFd pidfd;
  bool is_child = true;  // false when adopted from an earlier daemon (no exit status then)
  bool stop_requested = false;
  bool kill_requested = false;
  bool paused_by_signal = false;  // SIGSTOP, not the control socket: resumed by SIGCONT
};

namespace {

constexpr size_t kMaxStatusBytes = 64 << 10;
constexpr size_t kLogTailBytes = 4096;
constexpr auto kControlTimeout = std::chrono::seconds(10);
// How long a VMM this daemon started may take to make its control socket (a slow start: an
// emulated machine, a loaded host).
constexpr auto kControlSocketWait = std::chrono::seconds(30);
// A snapshot copies the guest's RAM and writable disks while the guest stands still.
constexpr auto kSnapshotTimeout = std::chrono::minutes(30);

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<UniqueFd> open_pidfd(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno_error("pidfd_open {}", pid);
  return UniqueFd(fd);
}

// The images havend made for a guest: plain files in one directory.
Result<void> remove_disk_dir(const std::string& dir) {
  DIR* listing = ::opendir(dir.c_str());
  if (!listing) {
    if (errno == ENOENT) return {};
    return errno_error("open {}", dir);
  }
  std::vector<std::string> files;
  while (dirent* entry = ::readdir(listing))
    if (std::string(entry->d_name) != "." && std::string(entry->d_name) != "..")
      files.push_back(dir + "/" + entry->d_name);
  ::closedir(listing);
  for (const std::string& file : files) TRY(sys::remove_file(file, true));
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return errno_error("remove {}", dir);
  return {};
}

Result<void> send_signal(const Supervisor::Process& process, int signo) {
  if (::syscall(SYS_pidfd_send_signal, process.pidfd.get(), signo, nullptr, 0) != 0)
    return errno_error("signal {} to haven-vmm {}", signo, process.pid);
  return {};
}

std::string log_tail(const std::string& path) {
  auto fd = sys::open(path, O_RDONLY | O_CLOEXEC);
  if (!fd) return {};
  auto st = sys::stat_fd(fd->get(), path);
  if (!st) return {};
  uint64_t size = static_cast<uint64_t>(st->st_size);
  uint64_t from = size > kLogTailBytes ? size - kLogTailBytes : 0;
  std::vector<uint8_t> tail(size - from);
  if (!sys::read_at(fd->get(), tail, from)) return {};
  return std::string(tail.begin(), tail.end());
}

// Reads away what the console socket has; false once the VMM closed it.
bool drain(int console) {
  uint8_t buffer[16 << 10];
  for (;;) {
    ssize_t n = ::read(console, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    if (n <= 0) return false;
  }
}

// Does process `pid` run haven-vmm with `config`? (Guards adoption against a reused pid.)
bool runs_config(pid_t pid, const std::string& config) {
  auto cmdline = sys::read_until_end(fmt::format("/proc/{}/cmdline", pid), 64 << 10);
  return cmdline && cmdline->find(config) != std::string::npos;
}

}  // namespace

Supervisor::Supervisor(SupervisorPaths paths, Listener listener)
    : m_paths(std::move(paths)), m_listener(std::move(listener)) {
  if (m_paths.cgroups) m_cgroups = Cgroups::detect();
}

Result<void> Supervisor::check_memory(const VmDefinition& definition) const {
  uint64_t host = TRY(sys::host_memory());
  uint64_t committed = 0;
  for (const auto& [name, process] : m_processes) committed += process->memory;
  double allowed = m_paths.memory_overcommit * static_cast<double>(host);
  uint64_t wanted = definition.config.memory;
  if (static_cast<double>(committed + wanted) > allowed)
    return field_error(
        ErrorKind::conflict, "memory",
        "starting '{}' ({} MiB) would commit {} MiB of guest RAM, more than the {} MiB "
        "allowed ({} x the host's {} MiB; havend --memory-overcommit)",
        definition.name, wanted >> 20, (committed + wanted) >> 20,
        static_cast<uint64_t>(allowed) >> 20, m_paths.memory_overcommit, host >> 20);
  return {};
}

Result<void> Supervisor::check_disks_free(const VmDefinition& definition) const {
  for (const vmm::DiskConfig& disk : definition.config.disks) {
    // A disk that cannot be opened here (not made yet: a restore's) is left to the VMM.
    auto fd = sys::open_data_file(disk.path, O_RDONLY | O_CLOEXEC, true);
    if (!fd) continue;
    auto free = block::ImageFile::lock(fd->get(), disk.readonly, disk.path);
    if (!free || *free) continue;  // the probe's lock goes with its fd
    std::string holder;
    for (pid_t pid : sys::lock_holders(fd->get()))
      for (const auto& [name, process] : m_processes)
        if (process->pid == pid) holder = fmt::format("guest '{}' (pid {})", name, pid);
    if (holder.empty()) holder = sys::describe_lock_holders(fd->get());
    return field_error(ErrorKind::conflict, "disks", "disk {} is {} by {}", disk.path,
                       disk.readonly ? "being written" : "in use", holder);
  }
  return {};
}

Result<std::unique_ptr<Supervisor>> Supervisor::open(SupervisorPaths paths, Listener listener) {
  for (const std::string& dir : {paths.state, paths.run_dir(), paths.log_dir(), paths.status_dir()})
    TRY(sys::ensure_directory(dir, 0700));
  auto supervisor = std::make_unique<Supervisor>(std::move(paths), std::move(listener));
  int event = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event < 0) return errno_error("eventfd");
  supervisor->m_shutdown = UniqueFd(event);

  // What an earlier daemon recorded: guests it left running are adopted if their VMM is
  // still there, and reported as crashed otherwise.
  const std::string status_dir = supervisor->m_paths.status_dir();
  DIR* dir = ::opendir(status_dir.c_str());
  if (!dir) return errno_error("open directory {}", status_dir);
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  MutexLock lock(supervisor->m_mutex);
  while (dirent* entry = ::readdir(dir)) {
    std::string file = entry->d_name;
    if (file.size() <= 5 || file.substr(file.size() - 5) != ".json") continue;
    std::string name = file.substr(0, file.size() - 5);
    auto bytes = TRY(sys::read_file(status_dir + "/" + file, kMaxStatusBytes));
    auto status = vm_status_from_json(std::string(bytes.begin(), bytes.end()));
    if (!status) {
      log::warn("status of {} unreadable ({}): recorded as stopped", name,
                status.error().message());
      supervisor->set_status(name, {});
      continue;
    }
    if (is_up(status->state)) {
      std::string config = supervisor->m_paths.run_dir() + "/" + name + ".json";
      auto pidfd = status->pid ? open_pidfd(*status->pid) : make_error("no pid recorded");
      if (pidfd && runs_config(*status->pid, config)) {
        auto process = std::make_shared<Process>();
        process->pid = *status->pid;
        process->pidfd = std::move(*pidfd);
        process->is_child = false;
        if (auto run = sys::read_until_end(config, 1 << 20))
          if (auto parsed = vmm::vm_config_from_json(*run)) process->memory = parsed->memory;
        supervisor->m_processes[name] = process;
        supervisor->m_status[name] = *status;
        supervisor->watch(name, process);
        log::info("{}: adopted haven-vmm {} from an earlier havend", name, process->pid);
        continue;
      }
      status->state = VmState::crashed;
      status->reason = "haven-vmm ended while havend was not running";
      status->pid.reset();
      status->stopped_at = now_seconds();
      supervisor->set_status(name, *status);
      supervisor->m_cgroups.remove(name);  // its VMM is gone: the groups are empty
      continue;
    }
    supervisor->m_status[name] = *status;
    supervisor->m_cgroups.remove(name);
  }
  return supervisor;
}

Supervisor::~Supervisor() {
  uint64_t one = 1;
  if (m_shutdown) (void)::write(m_shutdown.get(), &one, sizeof(one));
  m_watchers.clear();  // joins
}

void Supervisor::set_status(const std::string& name, VmStatus status) {
  m_status[name] = status;
  std::string file = m_paths.status_dir() + "/" + name + ".json";
  if (auto written = write_file_atomic(file, bytes_of(vm_status_to_json(status).dump())); !written)
    log::warn("{}: cannot record its status: {}", name, written.error().message());
  m_changed.notify_all();
  if (m_listener) m_listener(name, status);
}

VmStatus Supervisor::status(const std::string& name) const {
  MutexLock lock(m_mutex);
  auto found = m_status.find(name);
  return found == m_status.end() ? VmStatus{} : found->second;
}

Result<void> Supervisor::start(const VmDefinition& definition,
                               const std::optional<std::string>& restore_from) {
  const std::string& name = definition.name;
  MutexLock lock(m_mutex);
  if (auto found = m_status.find(name); found != m_status.end() && is_up(found->second.state))
    return field_error(ErrorKind::conflict, "state", "'{}' is {}", name,
                       to_string(found->second.state));
  if (auto held = m_reserved.find(name); held != m_reserved.end())
    return field_error(ErrorKind::conflict, "state", "'{}' is busy ({})", name, held->second);

  TRY(check_memory(definition));
  TRY(check_disks_free(definition));

  // cgroups haven/NAME with the limits; the VMM's memory is capped at its guest's RAM plus
  // overhead unless the definition says otherwise.
  ResourceLimits limits = definition.limits;
  bool explicit_limits = limits != ResourceLimits{};
  if (!limits.memory_limit) limits.memory_limit = definition.config.memory + kVmmMemoryOverhead;
  std::vector<UniqueFd> cgroup_procs;
  if (m_cgroups.usable()) {
    auto prepared = m_cgroups.prepare(name, limits);
    if (prepared)
      cgroup_procs = std::move(*prepared);
    else if (explicit_limits)
      return std::unexpected(std::move(prepared).error().with_context("limits").with_kind(
          ErrorKind::conflict, "limits"));
    else
      log::warn("{}: runs without cgroup limits: {}", name, prepared.error().message());
  } else if (explicit_limits) {
    return field_error(ErrorKind::conflict, "limits", "{} cannot be applied ({}; havend {})", name,
                       m_cgroups.describe(),
                       m_paths.cgroups ? "found no usable cgroups" : "runs with --no-cgroups");
  }

  vmm::VmConfig config = definition.config;
  // havend decides where consoles go, whatever a definition holds (one restored from a
  // snapshot keeps its virtio console as a device, with nothing behind it).
  if (config.virtio_console)
    config.virtio_console = vmm::ConsoleConfig{vmm::ConsoleConfig::Kind::none, ""};
  config.console = {vmm::ConsoleConfig::Kind::socket, m_paths.console_socket(name)};
  config.console_log = m_paths.console_log(name);  // haven-vmm writes it: nothing is lost
  std::string config_path = m_paths.run_dir() + "/" + name + ".json";
  TRY(write_file_atomic(config_path, bytes_of(vmm::vm_config_to_json(config))));
  auto log = TRY(sys::open(m_paths.vmm_log(name), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  std::string header = fmt::format("--- havend starts {} at {}\n", name, now_seconds());
  (void)sys::write_all(log.get(), bytes_of(header));

  // A control socket left by a VMM that was killed would be taken for the new one's before it
  // makes its own (control_socket_of). The guest is down; a socket still answered belongs to a
  // VMM havend does not know of, and is left alone.
  if (connect_unix(m_paths.control_socket(name)))
    return field_error(ErrorKind::conflict, "state",
                       "'{}': a haven-vmm havend does not know answers on {}", name,
                       m_paths.control_socket(name));
  (void)::unlink(m_paths.control_socket(name).c_str());
  launch::VmmProcess launch;
  launch.args = {m_paths.vmm, "--config", config_path, "--control", m_paths.control_socket(name)};
  if (restore_from) {
    launch.args.push_back("--restore");
    launch.args.push_back(*restore_from);
  }
  launch.stdout_fd = log.get();
  launch.stderr_fd = log.get();
  // The keys of the repository a disk is restored from, in a memfd that becomes fd 3.
  UniqueFd keys;
  if (auto handed = m_repo_keys.find(name); handed != m_repo_keys.end()) {
    keys = TRY(store::key_handoff_memfd(handed->second));
    launch.keys_fd = keys.get();
  }
  for (const UniqueFd& procs : cgroup_procs) launch.cgroup_procs.push_back(procs.get());
  launch.new_session = true;  // a signal to the daemon's group does not reach guests
  // Returns once haven-vmm really runs: before exec the child still looks like havend in
  // /proc, and a daemon restarting right then would not know it for a guest.
  auto started = launch::start_vmm_process(launch);
  if (!started) {
    m_cgroups.remove(name);
    std::string why = fmt::format("haven-vmm: error: {}\n", started.error().message());
    (void)sys::write_all(log.get(), bytes_of(why));
    return std::unexpected(std::move(started).error().with_context(name));
  }
  pid_t pid = *started;
  auto process = std::make_shared<Process>();
  process->pid = pid;
  process->memory = definition.config.memory;
  auto pidfd = open_pidfd(pid);
  if (!pidfd) {  // cannot watch it: do not leave it running unwatched
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return std::unexpected(std::move(pidfd).error());
  }
  process->pidfd = std::move(*pidfd);
  m_processes[name] = process;
  VmStatus status;
  status.state = VmState::running;
  status.pid = pid;
  status.started_at = now_seconds();
  set_status(name, status);
  watch(name, process);
  log::info("{}: started haven-vmm {}", name, pid);
  return {};
}

// The watcher of one VMM: holds the connection to its console socket (for input; the output
// it also sends there is drained, haven-vmm itself writes the console log), and waits for the
// VMM's end on its pidfd.
void Supervisor::watch(const std::string& name, std::shared_ptr<Process> process) {
  int shutdown = m_shutdown.get();
  std::string socket = m_paths.console_socket(name);
  // Watchers of VMMs that ended are joined here (at once: they are done), so a daemon that
  // starts guests for months does not keep a finished thread per start.
  std::erase_if(m_watchers, [](const Watcher& watcher) { return watcher.done->load(); });
  auto done = std::make_shared<std::atomic<bool>>(false);
  Watcher& watcher = m_watchers.emplace_back();
  watcher.done = done;
  watcher.thread = std::jthread([this, name, process, shutdown, socket, done] {
    struct MarkDone {
      std::atomic<bool>& flag;
      ~MarkDone() { flag = true; }
    } mark{*done};
    int console = -1;
    int attempts = 0;
    for (;;) {
      if (console < 0) {  // not connected yet: haven-vmm makes the socket as it starts
        auto connected = connect_unix(socket);
        if (connected) {
          console = connected->get();
          MutexLock lock(m_mutex);
          process->console = std::move(*connected);
          m_changed.notify_all();
        }
      }
      pollfd fds[3] = {
          {process->pidfd.get(), POLLIN, 0}, {shutdown, POLLIN, 0}, {console, POLLIN, 0}};
      // Until connected, retry every 20 ms (haven-vmm makes the socket within milliseconds),
      // then every second for a VMM that never does.
      int wait = console >= 0 ? -1 : ++attempts < 500 ? 20 : 1000;
      int ready = ::poll(fds, console >= 0 ? 3 : 2, wait);
      if (ready < 0) {
        if (errno == EINTR) continue;
        log::error("{}: poll on haven-vmm {} failed: {}", name, process->pid, strerror(errno));
        return;
      }
      if (fds[1].revents) return;  // the daemon is going away; the guest stays
      if (console >= 0 && fds[2].revents) {
        if (!drain(console)) {
          MutexLock lock(m_mutex);
          process->console.reset();
          console = -1;
        }
      }
      if (fds[0].revents) break;
    }
    int status = 0;
    bool known = false;
    if (process->is_child) {
      siginfo_t info{};
      if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(process->pidfd.get()), &info,
                   WEXITED) == 0) {
        known = true;
        status = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
      }
    }
    on_exit(name, process, status, known);
  });
}

Result<void> Supervisor::send_console_input(const std::string& name,
                                            std::span<const uint8_t> bytes) {
  MutexUniqueLock lock(m_mutex);
  auto found = m_processes.find(name);
  if (found == m_processes.end())
    return field_error(ErrorKind::conflict, "state", "'{}' is {}", name,
                       to_string(m_status[name].state));
  // Right after a start the watcher may not have connected to the console yet.
  std::shared_ptr<Process> process = found->second;
  m_changed.wait_for(lock.native(), std::chrono::seconds(5), [&]() HAVEN_REQUIRES(m_mutex) {
    return process->console || !m_processes.count(name);
  });
  if (!process->console)
    return field_error(ErrorKind::conflict, "state", "'{}' has no console connection", name);
  while (!bytes.empty()) {
    ssize_t n = ::send(process->console.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd wait{process->console.get(), POLLOUT, 0};
      if (::poll(&wait, 1, 1000) <= 0)
        return make_error("{}: the console is not taking input", name);
      continue;
    }
    if (n <= 0) return errno_error("console input to {}", name);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return {};
}

void Supervisor::on_exit(const std::string& name, const std::shared_ptr<Process>& process,
                         int status, bool known) {
  MutexLock lock(m_mutex);
  auto found = m_processes.find(name);
  if (found == m_processes.end() || found->second != process) return;
  ProcessEnd end;
  if (known && status >= 0) end.exit_status = status;
  if (known && status < 0) end.signal = -status;
  end.stop_requested = process->stop_requested;
  end.kill_requested = process->kill_requested;
  end.last_log_line = last_message(log_tail(m_paths.vmm_log(name)));
  Outcome outcome = classify_end(end);
  VmStatus next = m_status[name];
  next.state = outcome.state;
  next.reason = outcome.reason;
  next.pid.reset();
  next.exit_status = end.exit_status;
  next.exit_signal = end.signal;
  next.stopped_at = now_seconds();
  m_processes.erase(found);
  m_cgroups.remove(name);
  set_status(name, next);
  log::info("{}: {} ({})", name, to_string(outcome.state), outcome.reason);
}

bool Supervisor::wait_until_down(const std::string& name, std::chrono::milliseconds timeout) {
  MutexUniqueLock lock(m_mutex);
  return m_changed.wait_for(lock.native(), timeout,
                            [&]() HAVEN_REQUIRES(m_mutex) { return !m_processes.count(name); });
}

Result<void> Supervisor::signal(const std::string& name, int signo, VmState from, VmState to) {
  MutexLock lock(m_mutex);
  auto found = m_processes.find(name);
  VmStatus current = m_status[name];
  if (found == m_processes.end() || current.state != from)
    return field_error(ErrorKind::conflict, "state", "'{}' is {}, not {}", name,
                       to_string(current.state), to_string(from));
  TRY(send_signal(*found->second, signo));
  current.state = to;
  set_status(name, current);
  return {};
}

Result<void> Supervisor::pause(const std::string& name) {
  return pause_or_resume(name, true);
}

Result<void> Supervisor::resume(const std::string& name) {
  return pause_or_resume(name, false);
}

Result<void> Supervisor::pause_or_resume(const std::string& name, bool pause) {
  VmState from = pause ? VmState::running : VmState::paused;
  VmState to = pause ? VmState::paused : VmState::running;
  std::shared_ptr<Process> process;
  {
    MutexLock lock(m_mutex);
    auto found = m_processes.find(name);
    if (found == m_processes.end() || m_status[name].state != from)
      return field_error(ErrorKind::conflict, "state", "'{}' is {}, not {}", name,
                         to_string(m_status[name].state), to_string(from));
    process = found->second;
  }
  // Without its control socket (a VMM of an older havend, or one still starting) the signal
  // does: a stopped process is a paused guest too. One paused so is resumed so, whether or not
  // it made its socket meanwhile (a stopped VMM answers nothing on it).
  std::string control = m_paths.control_socket(name);
  bool by_signal;
  {
    MutexLock lock(m_mutex);
    by_signal = process->paused_by_signal;
  }
  if ((!pause && by_signal) || ::access(control.c_str(), F_OK) != 0) {
    TRY(signal(name, pause ? SIGSTOP : SIGCONT, from, to));
    MutexLock lock(m_mutex);
    process->paused_by_signal = pause;
    return {};
  }
  TRY(vmm::control_request(
      control, vmm::control::request(pause ? vmm::control::Op::pause : vmm::control::Op::resume),
      kControlTimeout));
  MutexLock lock(m_mutex);
  auto found = m_processes.find(name);
  if (found == m_processes.end() || found->second != process)
    return field_error(ErrorKind::conflict, "state", "'{}' ended meanwhile", name);
  VmStatus current = m_status[name];
  current.state = to;
  set_status(name, current);
  return {};
}

Result<nlohmann::json> Supervisor::vmm_stats(const std::string& name) {
  {
    MutexLock lock(m_mutex);
    if (!m_processes.count(name))
      return field_error(ErrorKind::conflict, "state", "'{}' is not running", name);
  }
  return vmm::control_request(m_paths.control_socket(name),
                              vmm::control::request(vmm::control::Op::stats),
                              std::chrono::seconds(2));
}

Result<vmm::control::SnapshotAnswer> Supervisor::snapshot(const std::string& name,
                                                          const std::string& dir) {
  auto answer = TRY(
      control(name, vmm::control::to_json(vmm::control::SnapshotRequest{dir}), kSnapshotTimeout));
  return with_context(vmm::control::snapshot_answer_from_json(answer),
                      "{}: the VMM's answer to snapshot", name);
}

Result<nlohmann::json> Supervisor::control(const std::string& name, const nlohmann::json& request,
                                           std::chrono::milliseconds timeout) {
  std::shared_ptr<Process> process;
  {
    MutexLock lock(m_mutex);
    VmState state = m_status[name].state;
    auto found = m_processes.find(name);
    if (found == m_processes.end() || (state != VmState::running && state != VmState::paused))
      return field_error(ErrorKind::conflict, "state", "'{}' is {}, not running or paused", name,
                         to_string(state));
    process = found->second;
  }
  auto socket = TRY(control_socket_of(name, process));
  if (!socket)
    return field_error(ErrorKind::conflict, "state",
                       "the haven-vmm of '{}' has no control socket (started by an older havend): "
                       "restart the guest",
                       name);
  return vmm::control_request(*socket, request, timeout);
}

Result<std::optional<std::string>> Supervisor::control_socket_of(
    const std::string& name, const std::shared_ptr<Process>& process) {
  std::string path = m_paths.control_socket(name);
  auto deadline = std::chrono::steady_clock::now() + kControlSocketWait;
  for (;;) {
    if (::access(path.c_str(), F_OK) == 0) return path;
    if (!process->is_child) return std::nullopt;
    {
      MutexLock lock(m_mutex);
      auto found = m_processes.find(name);
      if (found == m_processes.end() || found->second != process)
        return field_error(ErrorKind::conflict, "state", "'{}' ended meanwhile", name);
      if (process->paused_by_signal)
        return field_error(ErrorKind::conflict, "state",
                           "'{}' was paused while it started (by a signal): resume it first", name);
    }
    if (std::chrono::steady_clock::now() > deadline)
      return make_error(
          "the haven-vmm of '{}' made no control socket in {} s", name,
          std::chrono::duration_cast<std::chrono::seconds>(kControlSocketWait).count());
    // It appears as the VMM starts, after `start` answered: a short poll, as the watcher's
    // for the console socket.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<void> Supervisor::reserve(const std::string& name, const std::string& what) {
  MutexLock lock(m_mutex);
  auto [found, added] = m_reserved.emplace(name, what);
  if (!added)
    return field_error(ErrorKind::conflict, "state", "'{}' is busy ({})", name, found->second);
  return {};
}

void Supervisor::set_repo_keys(const std::string& name, std::optional<store::KeyHandoff> keys) {
  MutexLock lock(m_mutex);
  if (keys)
    m_repo_keys[name] = std::move(*keys);
  else
    m_repo_keys.erase(name);
}

void Supervisor::release(const std::string& name) {
  MutexLock lock(m_mutex);
  m_reserved.erase(name);
}

Result<void> Supervisor::stop(const std::string& name, std::chrono::milliseconds grace) {
  bool paused;
  {
    MutexLock lock(m_mutex);
    auto found = m_processes.find(name);
    if (found == m_processes.end())
      return field_error(ErrorKind::conflict, "state", "'{}' is {}", name,
                         to_string(m_status[name].state));
    found->second->stop_requested = true;
    VmStatus current = m_status[name];
    paused = current.state == VmState::paused;
    current.state = VmState::stopping;
    set_status(name, current);
  }
  std::string control = m_paths.control_socket(name);
  // `grace` is for the guest to shut down after its power button; its VMM then has the term
  // grace between SIGTERM and SIGKILL whatever `grace` was (0 too: the VMM still ends cleanly).
  if (!paused && grace.count() > 0 && ::access(control.c_str(), F_OK) == 0) {
    auto pressed = vmm::control_request(
        control, vmm::control::request(vmm::control::Op::power_button), kControlTimeout);
    if (pressed && wait_until_down(name, grace)) return {};
    if (pressed)
      log::info("{}: the guest did not shut down within {} ms: stopping it", name, grace.count());
    else
      log::warn("{}: power button: {}", name, pressed.error().message());
  }
  const std::chrono::milliseconds term_grace = m_paths.term_grace;
  {
    MutexLock lock(m_mutex);
    auto found = m_processes.find(name);
    if (found == m_processes.end()) return {};  // it ended meanwhile
    // A VMM paused by SIGSTOP must run to take the SIGTERM (one paused through its control
    // socket takes it anyway: its main loop still runs).
    if (paused) TRY(send_signal(*found->second, SIGCONT));
    TRY(send_signal(*found->second, SIGTERM));
  }
  if (wait_until_down(name, term_grace)) return {};
  log::warn("{}: haven-vmm did not end within {} ms of SIGTERM: killing it", name,
            term_grace.count());
  return kill(name);
}

Result<void> Supervisor::kill(const std::string& name) {
  {
    MutexLock lock(m_mutex);
    auto found = m_processes.find(name);
    if (found == m_processes.end())
      return field_error(ErrorKind::conflict, "state", "'{}' is {}", name,
                         to_string(m_status[name].state));
    found->second->kill_requested = true;
    TRY(send_signal(*found->second, SIGKILL));
  }
  if (!wait_until_down(name, std::chrono::seconds(10)))
    return make_error("haven-vmm of '{}' survived SIGKILL for 10 s", name);
  return {};
}

Result<void> Supervisor::forget(const std::string& name) {
  MutexLock lock(m_mutex);
  if (m_processes.count(name))
    return field_error(ErrorKind::conflict, "state", "'{}' is running", name);
  m_status.erase(name);
  for (const std::string& file :
       {m_paths.status_dir() + "/" + name + ".json", m_paths.run_dir() + "/" + name + ".json",
        m_paths.console_socket(name), m_paths.control_socket(name), m_paths.console_log(name),
        vmm::previous_console_log(m_paths.console_log(name)), m_paths.vmm_log(name)})
    TRY(sys::remove_file(file, true));
  TRY(remove_disk_dir(m_paths.disk_dir(name)));
  return {};
}

}  // namespace haven::daemon
