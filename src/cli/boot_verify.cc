#include "cli/boot_verify.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/log.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "cli/exit_codes.h"
#include "launch/vmm_process.h"
#include "store/boot_record.h"
#include "store/key_handoff.h"
#include "vmm/restored_boot.h"
#include "vmm/snapshot_layout.h"
#include "vmm/vm_config.h"
#include "vmm/vmm_path.h"

namespace haven::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The throwaway guest: the snapshot's VM config (or the flags'), its own disk fetched on
// demand into `dir`, no network, no other writable disk, the console on stdout. `notes`
// gets what was left out.
Result<vmm::VmConfig> throwaway_config(const store::Repository& repository,
                                       const store::SnapshotHead& snapshot,
                                       const BootVerifyArgs& args, const std::string& dir,
                                       std::vector<std::string>& notes) {
  vmm::BootChoice boot;
  if (!args.kernel.empty()) boot.kernel = args.kernel;
  if (!args.initrd.empty()) boot.initrd = args.initrd;
  if (!args.cmdline.empty()) boot.cmdline = args.cmdline;
  if (!args.firmware.empty()) boot.firmware = TRY(vmm::parse_boot_firmware(args.firmware));
  vmm::VmConfig config;
  size_t own = 0;
  if (!snapshot.vm.empty()) {
    // A guest definition: the VM config plus havend's own fields.
    auto doc = nlohmann::json::parse(snapshot.vm, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
      return make_error("snapshot {}: its VM config is not JSON", snapshot.id);
    for (const char* field : {"name", "cpu_quota", "cpu_weight", "memory_limit"}) doc.erase(field);
    config = TRY(with_context(vmm::vm_config_from_json(doc.dump()), "snapshot {}: its VM config",
                              snapshot.id));
    own = snapshot.disk >= 0 ? static_cast<size_t>(snapshot.disk) : 0;
    if (own >= config.disks.size())
      return make_error("snapshot {}: disk {} of a guest with {} disks", snapshot.id, own,
                        config.disks.size());
    std::vector<vmm::DiskConfig> kept;
    for (size_t i = 0; i < config.disks.size(); ++i) {
      if (i == own)
        own = kept.size();
      else if (!config.disks[i].readonly)
        continue;  // another writable disk: not in this snapshot, and never to be touched
      kept.push_back(config.disks[i]);
    }
    config.disks = std::move(kept);
    config.nvram.reset();  // the original guest's own store: never to be touched either
  } else {
    config.disks.push_back({});
  }
  notes = TRY(vmm::apply_boot_choice(config, boot, snapshot.vm.empty()));
  if (!args.memory.empty()) config.memory = TRY(vmm::parse_memory(args.memory));
  if (args.cpus) config.cpus = TRY(vmm::parse_cpus(args.cpus));
  config.nets.clear();
  config.console = {vmm::ConsoleConfig::Kind::stdio, ""};
  config.console_log.reset();
  config.virtio_console.reset();
  config.on_reboot = vmm::RebootAction::exit;
  // The check's own deadline is the one that counts: firmware reading a disk fetched chunk by
  // chunk from the repository is slower than on the guest's own disk, and a firmware that
  // finds nothing to boot still ends the run at once (vmm/boot_watch.h).
  config.boot_timeout = 0;
  vmm::DiskConfig& disk = config.disks[own];
  disk.path = dir + "/" + vmm::snapshot_disk_name(own);
  disk.readonly = false;
  disk.cbt = false;
  disk.restore_repo = repository.path();
  disk.restore_snapshot = snapshot.id;
  disk.hydrate = false;
  TRY(vmm::validate(config));
  return config;
}

struct Child {
  pid_t pid = -1;
  UniqueFd console;  // the guest's serial output
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

// `keys`: an encrypted repository's, handed to the VMM as its fd 3 (store/key_handoff.h).
Result<void> start_vmm(Child& child, const std::string& config_path, const std::string& log_path,
                       const std::optional<store::KeyHandoff>& keys) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error("pipe");
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  auto log = TRY(sys::open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  launch::VmmProcess launch;
  launch.args = {vmm::find_vmm_executable(), "--config", config_path};
  launch.stdout_fd = write_end.get();
  launch.stderr_fd = log.get();
  UniqueFd key_fd;
  if (keys) {
    key_fd = TRY(store::key_handoff_memfd(*keys));
    launch.keys_fd = key_fd.get();
  }
  launch.die_with_parent = true;  // the throwaway VM goes when this command goes
  pid_t pid = TRY(launch::start_vmm_process(launch));
  child.pid = pid;
  child.console = std::move(read_end);
  return {};
}

// Runs the guest until `ready` shows on its console, it stops, or `timeout` seconds pass.
store::BootRecord watch(Child& child, const BootVerifyArgs& args, unsigned timeout,
                        Clock::time_point started) {
  store::BootRecord record;
  record.ready = args.ready;
  auto deadline = started + std::chrono::seconds(timeout);
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      record.reason = fmt::format("'{}' did not appear within {} s", args.ready, timeout);
      break;
    }
    pollfd wait{child.console.get(), POLLIN, 0};
    int ready = ::poll(&wait, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) {
      record.reason = fmt::format("poll: {}", std::strerror(errno));
      break;
    }
    if (ready <= 0) continue;
    ssize_t got = ::read(child.console.get(), buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      int status = 0;
      ::waitpid(child.pid, &status, 0);
      child.pid = -1;
      record.reason = fmt::format(
          "the guest stopped before '{}' appeared ({})", args.ready,
          WIFEXITED(status) ? fmt::format("haven-vmm exit status {}", WEXITSTATUS(status))
                            : fmt::format("haven-vmm killed by signal {}", WTERMSIG(status)));
      break;
    }
    // Searched from just before the new bytes: the marker may straddle two reads.
    size_t from = record.transcript.size() >= args.ready.size()
                      ? record.transcript.size() - args.ready.size()
                      : 0;
    record.transcript.append(buffer, static_cast<size_t>(got));
    if (record.transcript.find(args.ready, from) != std::string::npos) {
      record.passed = true;
      break;
    }
  }
  record.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return record;
}

}  // namespace

int run_boot_verify(store::Repository& repository, const BootVerifyArgs& args) {
  if (args.ready.empty()) {
    log::error("--ready: give the console text that means the guest booted");
    return kExitUsage;
  }
  auto snapshot = repository.find_snapshot_head(args.snapshot);  // the VMM reads the ids
  if (!snapshot) {
    log::error("{}", snapshot.error().message());
    return kExitFailed;
  }
  std::string base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  std::string pattern = base + "/haven-boot-verify.XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    log::error("mkdtemp {}: {}", pattern, std::strerror(errno));
    return kExitFailed;
  }
  const std::string dir = pattern;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{dir};
  std::vector<std::string> notes;
  auto config = throwaway_config(repository, *snapshot, args, dir, notes);
  if (!config) {
    log::error("{}", config.error().message());
    return config.error().message().starts_with("snapshot") ? kExitFailed : kExitUsage;
  }
  // A UEFI guest's variables: a copy of the snapshot's in `dir`, which goes with it.
  if (auto placed = vmm::place_nvram(*config, snapshot->nvram, dir); !placed) {
    log::error("{}", placed.error().message());
    return kExitFailed;
  }
  const unsigned timeout = args.timeout.value_or(config->firmware == vmm::Firmware::none
                                                     ? BootVerifyArgs::kDirectBootTimeout
                                                     : BootVerifyArgs::kFirmwareBootTimeout);
  std::string config_path = dir + "/vm.json";
  std::string text = vmm::vm_config_to_json(*config);
  if (auto written = write_file_atomic(
          config_path, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
      !written) {
    log::error("{}", written.error().message());
    return kExitFailed;
  }
  auto started = Clock::now();
  store::BootRecord record;
  {
    Child child;
    std::optional<store::KeyHandoff> keys;
    if (repository.keys()) keys = store::KeyHandoff{repository.path(), *repository.keys()};
    if (auto spawned = start_vmm(child, config_path, dir + "/vmm.log", keys); !spawned) {
      log::error("{}", spawned.error().message());
      return kExitFailed;
    }
    if (!args.quiet && !args.json) {
      for (const std::string& note : notes) fmt::print(stderr, "note: {}\n", note);
      fmt::print(stderr, "booting snapshot {}{} (waiting up to {} s for '{}')\n", snapshot->id,
                 config->firmware == vmm::Firmware::none
                     ? ""
                     : " through " + vmm::firmware_name(config->firmware) + " firmware",
                 timeout, args.ready);
    }
    record = watch(child, args, timeout, started);
  }  // the VMM is gone before its log is read
  if (!record.passed) {
    auto log_bytes = sys::read_file(dir + "/vmm.log", 1 << 20);
    if (log_bytes && !log_bytes->empty()) {
      std::string vmm_log(log_bytes->begin(), log_bytes->end());
      record.transcript += "\n--- haven-vmm ---\n" + vmm_log;
    }
  }
  record.snapshot = snapshot->id;
  record.time = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  if (auto saved = store::write_boot_record(repository, record); !saved)
    log::warn("the result could not be stored: {}", saved.error().message());
  if (args.json) {
    fmt::print("{}\n", nlohmann::json{{"snapshot", record.snapshot},
                                      {"passed", record.passed},
                                      {"ready", record.ready},
                                      {"seconds", record.seconds},
                                      {"reason", record.reason}}
                           .dump(2));
  } else if (record.passed) {
    if (!args.quiet)
      fmt::print("ok: snapshot {} boots ('{}' after {:.1f} s)\n", record.snapshot, record.ready,
                 record.seconds);
  } else {
    fmt::print("FAILED: snapshot {} does not boot: {}\n", record.snapshot, record.reason);
    std::string tail = record.transcript.substr(
        record.transcript.size() > 2000 ? record.transcript.size() - 2000 : 0);
    fmt::print("--- the last of its console ---\n{}\n", tail);
  }
  return record.passed ? kExitOk : kExitDamaged;
}

}  // namespace haven::cli
