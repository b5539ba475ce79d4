// haven-vmm: runs one guest, described by a JSON VM config, in this process.
// `haven run` and (later) havend start one of these per guest.

#include <signal.h>
#include <sys/signalfd.h>

#include <CLI/CLI.hpp>
#include <chrono>

#include "base/crash_report.h"
#include "base/log.h"
#include "base/sys.h"
#include "base/thread_kind.h"
#include "jail/vmm_confinement.h"
#include "kvm/kvm.h"
#include "store/crypto.h"
#include "vmm/console.h"
#include "vmm/machine.h"
#include "vmm/snapshot_file.h"
#include "vmm/vm_config.h"
#ifdef HAVEN_TEST_HOOKS
#include "jail/forbidden_syscall_trigger.h"
#endif

namespace {

using namespace haven;

constexpr size_t kMaxConfigSize = 1 * MiB;

Result<vmm::VmConfig> load_config(const std::string& path) {
  auto bytes = TRY(sys::read_file(path, kMaxConfigSize));
  std::string text(bytes.begin(), bytes.end());
  auto config = TRY(with_context(vmm::vm_config_from_json(text), "{}", path));
  TRY(with_context(vmm::validate(config), "{}", path));
  return config;
}

// SIGINT, SIGTERM and SIGHUP stop the guest cleanly (the terminal is restored); they are read
// from a signalfd by the main loop, so every thread blocks them.
Result<UniqueFd> block_host_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) return make_error("pthread_sigmask");
  int fd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return errno_error("signalfd");
  return UniqueFd(fd);
}

// What to run: a config, and optionally a snapshot to continue from instead of booting.
struct Plan {
  vmm::VmConfig config;
  std::optional<std::string> restore_dir;
  std::optional<vmm::Snapshot> snapshot;
  std::optional<std::string> control_path;
};

// --restore DIR without --config: the snapshot's own guest, its disks used in place (the
// copies in DIR), the serial console on stdio.
Result<Plan> plan_restore(const std::string& dir, const std::optional<std::string>& config_path) {
  Plan plan;
  plan.restore_dir = dir;
  plan.snapshot = TRY(vmm::read_snapshot_file(dir));
  if (config_path) {
    plan.config = TRY(load_config(*config_path));
    return plan;
  }
  plan.config = plan.snapshot->config;
  plan.config.console = {};
  plan.config.console_log.reset();
  plan.config.virtio_console.reset();
  if (plan.snapshot->config.virtio_console)
    plan.config.virtio_console = vmm::ConsoleConfig{vmm::ConsoleConfig::Kind::none, ""};
  for (size_t i = 0; i < plan.config.disks.size(); ++i)
    if (plan.snapshot->disk_copies[i])
      plan.config.disks[i].path = dir + "/" + *plan.snapshot->disk_copies[i];
  if (plan.snapshot->nvram_copy) plan.config.nvram = dir + "/" + *plan.snapshot->nvram_copy;
  return plan;
}

int run(const Plan& plan, std::chrono::steady_clock::time_point started) {
  const vmm::VmConfig& config = plan.config;
  auto signal_fd = block_host_signals();
  if (!signal_fd) {
    log::error("{}", signal_fd.error().message());
    return vmm::kExitError;
  }
  auto kvm = kvm::Kvm::open();
  if (!kvm) {
    log::error("{}", kvm.error().message());
    return vmm::kExitError;
  }
  if (kvm->flavor() == kvm::Flavor::pvm)
    log::warn(
        "/dev/kvm here is PVM, not hardware virtualization: only PVM-enabled guest kernels "
        "run; stock kernels need the nested rig (tools/rig/run)");
  auto console = vmm::Console::open(config.console, config.console_log);
  if (!console) {
    log::error("{}", console.error().message());
    return vmm::kExitError;
  }
  std::unique_ptr<vmm::Console> second_console;
  if (config.virtio_console) {
    auto opened = vmm::Console::open(*config.virtio_console);
    if (!opened) {
      log::error("virtio console: {}", opened.error().message());
      return vmm::kExitError;
    }
    second_console = std::move(*opened);
  }
  std::unique_ptr<vmm::ControlSocket> control;
  if (plan.control_path) {
    auto opened = vmm::ControlSocket::open(*plan.control_path);
    if (!opened) {
      log::error("{}", opened.error().message());
      return vmm::kExitError;
    }
    control = std::move(*opened);
  }
  // Every socket haven-vmm listens on is open: it makes, binds and connects no more.
  if (auto forbidden = jail::forbid_new_sockets(); !forbidden) {
    log::error("{}", forbidden.error().message());
    return vmm::kExitError;
  }
  bool restoring = plan.snapshot.has_value();
  for (;;) {
    auto machine = restoring ? vmm::Machine::restore(config, *kvm, **console, second_console.get(),
                                                     *plan.restore_dir, *plan.snapshot)
                             : vmm::Machine::create(config, *kvm, **console, second_console.get());
    if (!machine) {
      log::error("{}", machine.error().message());
      return vmm::kExitError;
    }
    if (restoring)
      log::info(
          "restored from {} in {:.1f} ms", *plan.restore_dir,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
              .count());
    restoring = false;  // a reboot boots the kernel
    enter_thread_kind(ThreadKind::main);
    vmm::StopReason reason = (*machine)->run(signal_fd->get(), started, control.get());
    if (reason.kind == vmm::StopKind::reset && config.on_reboot == vmm::RebootAction::restart) {
      log::info("the guest reset: restarting it");
      continue;
    }
    switch (reason.kind) {
      case vmm::StopKind::power_off:
      case vmm::StopKind::user_quit:
        log::info("{}", reason.detail);
        break;
      case vmm::StopKind::reset:
        log::info("{} (exiting: on_reboot is 'exit')", reason.detail);
        break;
      default:
        log::error("{}", reason.detail);
        break;
    }
    return vmm::exit_status(reason);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  log::set_program_name("haven-vmm");
  mark_thread_kind(ThreadKind::main);
  install_crash_report("haven-vmm");
  sys::raise_open_file_limit();  // an instant restore reads a repository's packs
  CLI::App app{"haven-vmm: run one guest described by a JSON VM config (see `haven run`)."};
  std::optional<std::string> config_path, restore_dir, control_path;
  bool verbose = false;
  app.add_option("--config", config_path, "VM config file (JSON)");
  app.add_option("--restore", restore_dir,
                 "Continue the guest saved in this snapshot directory instead of booting; "
                 "without --config, its own config with the disks in the snapshot used in place");
  app.add_option("--control", control_path,
                 "Listen on this Unix socket for pause, resume and snapshot requests");
  app.add_flag("-v,--verbose", verbose, "Log debug details (stray port accesses, timings)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : vmm::kExitUsage;
  }
  if (verbose || std::getenv("HAVEN_DEBUG")) log::set_level(log::Level::debug);
  bool with_filter = true;
#ifdef HAVEN_TEST_HOOKS
  jail::test_hooks::arm_forbidden_syscall_trigger();
  with_filter = !jail::test_hooks::seccomp_filter_turned_off();
#endif
  // Before the config, a snapshot or any guest byte is read (src/jail/vmm_confinement.h); what
  // would load code later (OpenSSL's providers, for an instant restore) is loaded first.
  if (auto prepared = store::prepare_crypto(); !prepared) {
    log::error("{}", prepared.error().message());
    return vmm::kExitError;
  }
  if (auto confined = jail::confine_vmm_process(vmm::kExitForbiddenSyscall, with_filter);
      !confined) {
    log::error("confining haven-vmm: {}", confined.error().message());
    return vmm::kExitError;
  }
  if (!config_path && !restore_dir) {
    log::error("--config or --restore is required");
    return vmm::kExitUsage;
  }
  Result<Plan> plan =
      restore_dir ? plan_restore(*restore_dir, config_path) : [&]() -> Result<Plan> {
    Plan fresh;
    fresh.config = TRY(load_config(*config_path));
    return fresh;
  }();
  if (!plan) {
    log::error("{}", plan.error().message());
    return vmm::kExitUsage;
  }
  plan->control_path = control_path;
  return run(*plan, started);
}
