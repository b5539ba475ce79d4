#include "cli/run_command.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "base/log.h"
#include "base/sys.h"
#include "base/units.h"
#include "vmm/stop_reason.h"
#include "vmm/vm_config.h"
#include "vmm/vmm_path.h"

namespace haven::cli {
namespace {

constexpr size_t kMaxConfigSize = 1 * MiB;

struct RunOptions {
  std::string config_file;
  std::string kernel;
  std::string initrd;
  std::optional<std::string> cmdline;
  std::string memory;
  double memory_overcommit = 1.5;
  std::string cpus;
  std::string console;
  std::string on_reboot;
  std::vector<std::string> disks;
  std::vector<std::string> nets;
  bool rng = false;
  std::string virtio_console;
  std::string firmware;
  std::string cdrom;
  std::string floppy;
  std::string boot;
  std::string nvram;
  std::optional<int64_t> boot_timeout;
  bool print_config = false;
  bool verbose = false;
};

// A flag's value is checked here so every error names its flag the same way.
template <class T>
Result<T> flag(Result<T> parsed, std::string_view name) {
  return with_context(std::move(parsed), "{}", name);
}

Result<vmm::VmConfig> build_config(const RunOptions& options) {
  vmm::VmConfig config;
  if (!options.config_file.empty()) {
    auto bytes = TRY(sys::read_file(options.config_file, kMaxConfigSize));
    config = TRY(with_context(vmm::vm_config_from_json(std::string(bytes.begin(), bytes.end())),
                              "{}", options.config_file));
  }
  // Flags override the file.
  if (!options.kernel.empty()) config.kernel = options.kernel;
  if (!options.initrd.empty()) config.initrd = options.initrd;
  if (options.cmdline) config.cmdline = *options.cmdline;
  if (!options.memory.empty())
    config.memory = TRY(flag(vmm::parse_memory(options.memory), "--memory"));
  if (!options.cpus.empty()) {
    char* end = nullptr;
    long long cpus = std::strtoll(options.cpus.c_str(), &end, 10);
    if (end == options.cpus.c_str() || *end != '\0')
      return make_error("--cpus: '{}' is not a number", options.cpus);
    config.cpus = TRY(flag(vmm::parse_cpus(cpus), "--cpus"));
  }
  if (!options.console.empty())
    config.console = TRY(flag(vmm::parse_console(options.console), "--console"));
  if (!options.on_reboot.empty())
    config.on_reboot = TRY(flag(vmm::parse_reboot_action(options.on_reboot), "--on-reboot"));

  // Devices on the command line add to those of the file.
  for (const std::string& disk : options.disks)
    config.disks.push_back(TRY(flag(vmm::parse_disk(disk), "--disk")));
  for (const std::string& net : options.nets)
    config.nets.push_back(TRY(flag(vmm::parse_net(net), "--net")));
  if (options.rng) config.rng = true;
  if (!options.virtio_console.empty())
    config.virtio_console =
        TRY(flag(vmm::parse_console(options.virtio_console), "--virtio-console"));

  if (!options.firmware.empty())
    config.firmware = TRY(flag(vmm::parse_firmware(options.firmware), "--firmware"));
  if (!options.cdrom.empty()) config.cdrom = options.cdrom;
  if (!options.floppy.empty()) config.floppy = options.floppy;
  if (!options.boot.empty())
    config.boot_order = TRY(flag(vmm::parse_boot_order(options.boot), "--boot"));
  if (!options.nvram.empty()) config.nvram = options.nvram;
  if (options.boot_timeout) {
    if (*options.boot_timeout < 0 || *options.boot_timeout > 86400)
      return make_error("--boot-timeout: {} is not 0 (none) to 86400 seconds",
                        *options.boot_timeout);
    config.boot_timeout = static_cast<uint32_t>(*options.boot_timeout);
  }

  if (config.kernel.empty() && config.firmware == vmm::Firmware::none)
    return make_error(
        "--kernel: a kernel is required, or --firmware bios|uefi to boot the guest's own disk "
        "or media");
  TRY(vmm::validate(config));
  // Guest RAM is only taken as the guest touches it, so more than the host has would start
  // and fail later, pushing the host into swapping and OOM kills: refused past the same share
  // of the host's memory havend allows (havend --memory-overcommit).
  uint64_t host = TRY(sys::host_memory());
  if (static_cast<double>(config.memory) > options.memory_overcommit * static_cast<double>(host))
    return make_error("--memory: {} is more than {} x this host's {} (--memory-overcommit)",
                      format_size(config.memory), options.memory_overcommit, format_size(host));
  // Missing files are the user's to fix: say which, before starting anything.
  auto check_readable = [](const std::string& path, std::string_view what) -> Result<void> {
    if (::access(path.c_str(), R_OK) != 0) return errno_error("{}: {}", what, path);
    return {};
  };
  if (!config.kernel.empty()) TRY(check_readable(config.kernel, "--kernel"));
  if (config.initrd) TRY(check_readable(*config.initrd, "--initrd"));
  for (const vmm::DiskConfig& disk : config.disks) TRY(check_readable(disk.path, "--disk"));
  if (config.cdrom) TRY(check_readable(*config.cdrom, "--cdrom"));
  if (config.floppy) TRY(check_readable(*config.floppy, "--floppy"));
  return config;
}

// Replaces this process with haven-vmm, handing it the config through a memfd.
int exec_vmm(const vmm::VmConfig& config, bool verbose) {
  int fd = ::memfd_create("haven-vm-config", 0);  // inherited by haven-vmm on purpose
  if (fd < 0) {
    log::error("memfd_create: {}", std::strerror(errno));
    return vmm::kExitError;
  }
  std::string json = vmm::vm_config_to_json(config);
  if (auto written =
          sys::write_all(fd, std::span(reinterpret_cast<const uint8_t*>(json.data()), json.size()));
      !written) {
    log::error("{}", written.error().message());
    return vmm::kExitError;
  }
  std::string vmm = vmm::find_vmm_executable();
  std::string config_path = "/proc/self/fd/" + std::to_string(fd);
  std::vector<const char*> args = {vmm.c_str(), "--config", config_path.c_str()};
  if (verbose) args.push_back("--verbose");
  args.push_back(nullptr);
  ::execvp(vmm.c_str(), const_cast<char* const*>(args.data()));
  log::error("cannot start {}: {}", vmm, std::strerror(errno));
  return vmm::kExitError;
}

}  // namespace

std::function<int()> add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* run = app.add_subcommand(
      "run",
      "Boot a guest with its serial console in this terminal (Ctrl-A x quits): a Linux\n"
      "kernel directly (--kernel), or the guest's own boot loader through firmware\n"
      "(--firmware bios|uefi) from its --disk, --cdrom or --floppy.\n"
      "Exit status: 0 powered off, 1 Haven failed, 2 bad usage, 3 guest crashed,\n"
      "4 guest panicked, 5 guest reset (with --on-reboot exit), 6 quit from the\n"
      "console, 7 the firmware found nothing to boot, 8 the VMM made a system call\n"
      "its seccomp filter forbids, 128+N stopped by signal N.");
  run->add_option("--config", options->config_file, "VM config file (JSON); flags override it");
  run->add_option("--kernel", options->kernel, "Linux bzImage, or ELF vmlinux booted via PVH");
  run->add_option("--initrd", options->initrd, "Initial ramdisk");
  run->add_option(
      "--cmdline", options->cmdline,
      std::string("Kernel command line (default: \"") + vmm::VmConfig::kDefaultCmdline + "\")");
  run->add_option("--memory", options->memory, "Guest RAM, e.g. 512M or 2G (default 512M)");
  run->add_option("--memory-overcommit", options->memory_overcommit,
                  "Guest RAM may be up to this times the host's memory (default 1.5)")
      ->check(CLI::Range(0.1, 100.0));
  run->add_option("--cpus", options->cpus, "Number of vCPUs (default 1)");
  run->add_option("--console", options->console,
                  "stdio (default), file:PATH, socket:PATH (Haven listens) or none");
  run->add_option("--on-reboot", options->on_reboot,
                  "What a guest reset does: exit (default) or restart");
  run->add_option(
      "--disk", options->disks,
      "A virtio disk: path=IMAGE[,readonly=on][,direct=on][,cbt=on][,queues=N] (repeatable; "
      "docs/VM-CONFIG.md)");
  run->add_option("--net", options->nets,
                  "A virtio NIC on a TAP: tap=NAME[,mac=52:54:00:..] (repeatable)");
  run->add_flag("--rng", options->rng, "A virtio entropy source (the guest's /dev/hwrng)");
  run->add_option("--firmware", options->firmware,
                  "Boot through firmware instead of --kernel: bios (SeaBIOS) or uefi (OVMF)");
  run->add_option("--cdrom", options->cdrom, "An ISO image as a read-only CD-ROM (virtio-scsi)");
  run->add_option("--floppy", options->floppy,
                  "A floppy image as drive A: (bios; the guest's writes are not kept)");
  run->add_option("--boot", options->boot,
                  "Boot order: disk, cdrom, floppy, comma-separated (the rest follow)");
  run->add_option("--nvram", options->nvram,
                  "UEFI variable store kept in this file (made from OVMF's template if missing)");
  run->add_option("--boot-timeout", options->boot_timeout,
                  "Seconds the firmware has to start a boot loader (default 60, 0 = no limit)");
  run->add_option("--virtio-console", options->virtio_console,
                  "A second console, the guest's /dev/hvc0: file:PATH, socket:PATH or stdio");
  run->add_flag("--print-config", options->print_config,
                "Print the resulting VM config as JSON and exit");
  run->add_flag("-v,--verbose", options->verbose, "Log debug details");
  return [run, options]() -> int {
    if (!run->parsed()) return -1;
    auto config = build_config(*options);
    if (!config) {
      log::error("{}", config.error().message());
      return vmm::kExitUsage;
    }
    if (options->print_config) {
      fmt::print("{}\n", vmm::vm_config_to_json(*config));
      return 0;
    }
    return exec_vmm(*config, options->verbose);
  };
}

}  // namespace haven::cli
