#include "cli/vm_command.h"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <memory>
#include <optional>

#include "base/log.h"
#include "base/terminal.h"
#include "base/units.h"
#include "cli/api_client.h"
#include "cli/exit_codes.h"
#include "vmm/vm_config.h"

namespace haven::cli {
namespace {

using nlohmann::json;

struct VmArgs {
  std::string socket;
  std::string name;
  bool json_output = false;
  // create
  std::string kernel, initrd, memory, cmdline;
  uint32_t cpus = 1;
  std::vector<std::string> disks, nets;
  bool rng = false;
  bool cmdline_given = false;
  std::string firmware, cdrom, floppy, boot, nvram, on_reboot;
  std::optional<uint32_t> boot_timeout;
  // fill
  bool fill_pause = false, fill_resume = false;
  std::optional<double> cpu_quota;
  std::optional<uint32_t> cpu_weight;
  std::string memory_limit;
  // stop
  double timeout = 30;
  // snapshot, restore
  std::string dir;
};

// Paths are the daemon's to open: relative ones are made absolute here, their "." and ".."
// parts taken away (havend refuses paths that hold them).
std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  std::error_code failed;
  std::filesystem::path absolute = std::filesystem::absolute(path, failed);
  if (failed) return path;
  return absolute.lexically_normal().string();
}

// Maps an API answer to an exit status, printing the error line when there is one.
int finish(const Result<ApiResponse>& response, int ok_status = 200) {
  if (!response) {
    log::error("{}", response.error().message());
    return kExitFailed;
  }
  if (response->status == ok_status || (response->status >= 200 && response->status < 300))
    return kExitOk;
  log::error("{}", response->error());
  return response->status == 400 ? kExitUsage : kExitFailed;
}

std::string human_time(int64_t seconds) {
  if (seconds <= 0) return "-";
  time_t t = static_cast<time_t>(seconds);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return text;
}

std::string memory_of(const json& vm) {
  return vm.contains("memory") && vm["memory"].is_string() ? vm["memory"].get<std::string>() : "?";
}

void print_table(const json& vms) {
  fmt::print("{:<20} {:<9} {:>4} {:>8}  {}\n", "NAME", "STATE", "CPUS", "MEMORY", "REASON");
  for (const json& vm : vms) {
    std::string reason = vm["status"].value("reason", "");
    fmt::print("{:<20} {:<9} {:>4} {:>8}  {}\n", vm.value("name", "?"), vm.value("state", "?"),
               vm.value("cpus", 0), memory_of(vm), reason);
  }
}

void print_vm(const json& vm, const json& metrics) {
  const json& status = vm["status"];
  fmt::print("name:       {}\n", vm.value("name", "?"));
  fmt::print("state:      {}\n", vm.value("state", "?"));
  if (status.contains("pid")) fmt::print("pid:        {}\n", status["pid"].get<int>());
  fmt::print("started:    {}\n", human_time(status.value("started_at", int64_t{0})));
  fmt::print("stopped:    {}\n", human_time(status.value("stopped_at", int64_t{0})));
  if (!status.value("reason", "").empty())
    fmt::print("reason:     {}\n", status.value("reason", ""));
  fmt::print("kernel:     {}\n", vm.value("kernel", ""));
  if (vm.contains("initrd")) fmt::print("initrd:     {}\n", vm.value("initrd", ""));
  fmt::print("cmdline:    {}\n", vm.value("cmdline", ""));
  fmt::print("cpus:       {}\nmemory:     {}\n", vm.value("cpus", 0), memory_of(vm));
  if (vm.contains("cpu_quota")) fmt::print("cpu quota:  {} CPUs\n", vm["cpu_quota"].get<double>());
  if (vm.contains("cpu_weight")) fmt::print("cpu weight: {}\n", vm["cpu_weight"].get<int>());
  if (vm.contains("memory_limit"))
    fmt::print("mem limit:  {}\n", vm["memory_limit"].get<std::string>());
  if (vm.contains("disks"))
    for (const json& disk : vm["disks"])
      fmt::print("disk:       {}{}\n", disk.value("path", ""),
                 disk.value("readonly", false) ? " (read-only)" : "");
  if (metrics.contains("cpu_seconds")) {
    fmt::print("cpu time:   {:.2f} s\n", metrics["cpu_seconds"].get<double>());
    fmt::print("resident:   {}\n", format_size(metrics["rss_bytes"].get<uint64_t>()));
    fmt::print("io:         {} read, {} written\n",
               format_size(metrics["read_bytes"].get<uint64_t>()),
               format_size(metrics["write_bytes"].get<uint64_t>()));
  }
  if (metrics.contains("vcpu_seconds")) {
    fmt::print("vcpu time:  {:.2f} s{}\n", metrics["vcpu_seconds"].get<double>(),
               metrics.contains("exits")
                   ? fmt::format(" ({} VM exits)", metrics["exits"].get<uint64_t>())
                   : "");
    fmt::print("disks:      {} read, {} written\n",
               format_size(metrics["disk_read_bytes"].get<uint64_t>()),
               format_size(metrics["disk_write_bytes"].get<uint64_t>()));
    fmt::print("network:    {} in, {} out\n", format_size(metrics["net_rx_bytes"].get<uint64_t>()),
               format_size(metrics["net_tx_bytes"].get<uint64_t>()));
  }
  for (const json& device : metrics.value("devices", json::array())) {
    if (!device.contains("total_blocks")) continue;  // not being restored
    uint64_t present = device.value("hydrated_blocks", uint64_t{0});
    uint64_t total = std::max<uint64_t>(1, device.value("total_blocks", uint64_t{1}));
    uint64_t failed = device.value("hydration_failed", uint64_t{0});
    fmt::print("restore:    {}: {} of {} chunks ({:.0f} %){}{}\n", device.value("slot", 0), present,
               total, 100.0 * static_cast<double>(present) / static_cast<double>(total),
               device.value("hydration_complete", false) ? ", complete"
               : device.value("hydration_paused", false) ? ", fill paused"
                                                         : ", filling",
               failed ? fmt::format(", {} could not be fetched", failed) : "");
  }
}

// The definition `create` sends: the VM config's JSON form from the same parsers as
// `haven run`, plus the name; the console is the daemon's.
Result<json> definition_from_args(const VmArgs& args) {
  vmm::VmConfig config;
  config.kernel = args.kernel;
  if (!args.initrd.empty()) config.initrd = args.initrd;
  if (args.cmdline_given) config.cmdline = args.cmdline;
  if (!args.memory.empty())
    config.memory = TRY(with_context(vmm::parse_memory(args.memory), "--memory"));
  config.cpus = TRY(with_context(vmm::parse_cpus(args.cpus), "--cpus"));
  for (const std::string& disk : args.disks)
    config.disks.push_back(TRY(with_context(vmm::parse_disk(disk), "--disk")));
  for (const std::string& net : args.nets)
    config.nets.push_back(TRY(with_context(vmm::parse_net(net), "--net")));
  config.rng = args.rng;
  if (!args.firmware.empty())
    config.firmware = TRY(with_context(vmm::parse_firmware(args.firmware), "--firmware"));
  if (!args.cdrom.empty()) config.cdrom = absolute_path(args.cdrom);
  if (!args.floppy.empty()) config.floppy = absolute_path(args.floppy);
  if (!args.nvram.empty()) config.nvram = absolute_path(args.nvram);
  if (!args.boot.empty())
    config.boot_order = TRY(with_context(vmm::parse_boot_order(args.boot), "--boot"));
  if (args.boot_timeout) config.boot_timeout = *args.boot_timeout;
  if (!args.on_reboot.empty())
    config.on_reboot = TRY(with_context(vmm::parse_reboot_action(args.on_reboot), "--on-reboot"));
  if (config.kernel.empty() && config.firmware == vmm::Firmware::none)
    return make_error(
        "--kernel: a kernel is required, or --firmware bios|uefi to boot the guest's own disk "
        "or media");
  if (!config.kernel.empty()) config.kernel = absolute_path(config.kernel);
  if (config.initrd) config.initrd = absolute_path(*config.initrd);
  for (vmm::DiskConfig& disk : config.disks) disk.path = absolute_path(disk.path);
  json definition = json::parse(vmm::vm_config_to_json(config));
  definition.erase("console");
  // A firmware guest restarts when it reboots (an installer's last step), unless told
  // otherwise: havend's default for such guests, left to it.
  if (args.on_reboot.empty() && config.firmware != vmm::Firmware::none)
    definition.erase("on_reboot");
  definition["name"] = args.name;
  if (args.cpu_quota) definition["cpu_quota"] = *args.cpu_quota;
  if (args.cpu_weight) definition["cpu_weight"] = *args.cpu_weight;
  if (!args.memory_limit.empty()) definition["memory_limit"] = args.memory_limit;
  return definition;
}

// `haven vm console NAME`: the guest's serial output (what it printed so far, then live) on
// stdout, stdin typed into it (raw mode on a terminal); Ctrl-] leaves, as with virsh. Ends by
// itself when the guest stops.
int attach_console(ApiClient& client, const std::string& name) {
  constexpr uint8_t kDetach = 0x1d;  // Ctrl-]
  std::string path = "/v1/vms/" + name + "/console";
  // Existence first: the stream's own errors would read as console output.
  if (int status = finish(client.request("GET", "/v1/vms/" + name)); status != kExitOk)
    return status;
  auto terminal = RawTerminal::enable(0);
  if (!terminal) {
    log::error("{}", terminal.error().message());
    return kExitFailed;
  }
  if (*terminal) fmt::print(stderr, "[attached to {}: Ctrl-] leaves]\r\n", name);
  // The output stream runs on a thread of its own with its own connection; it may outlive
  // this function when the user leaves (the process exits then), so it owns what it uses.
  auto output = std::make_shared<ApiClient>(client.socket());
  auto ended = std::make_shared<std::atomic<bool>>(false);
  std::thread([output, ended, path] {
    (void)output->stream(path + "?follow=1", [](std::string_view data) {
      return ::write(1, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    });
    *ended = true;
  }).detach();
  bool input_open = true;
  while (!*ended) {
    pollfd wait{0, POLLIN, 0};
    if (!input_open || ::poll(&wait, 1, 200) <= 0) {
      if (!input_open) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    char buffer[4096];
    ssize_t n = ::read(0, buffer, sizeof(buffer));
    if (n <= 0) {  // end of input: keep showing output until the guest stops
      input_open = false;
      continue;
    }
    std::string typed(buffer, static_cast<size_t>(n));
    size_t detach = typed.find(static_cast<char>(kDetach));
    bool leaving = detach != std::string::npos && *terminal;
    if (leaving) typed.resize(detach);
    if (!typed.empty()) {
      auto sent = client.post_bytes(path, typed);
      if (!sent || sent->status != 200) {
        log::error("console input: {}", sent ? sent->error() : sent.error().message());
        return kExitFailed;
      }
    }
    if (leaving) {
      fmt::print(stderr, "\r\n[left {}]\r\n", name);
      return kExitOk;
    }
  }
  return kExitOk;
}

int run_vm_command(const std::string& action, const VmArgs& args) {
  ApiClient client(daemon_socket(args.socket));
  std::string path = "/v1/vms/" + args.name;
  if (action == "ls") {
    auto response = client.request("GET", "/v1/vms");
    if (int status = finish(response); status != kExitOk) return status;
    const json& vms = response->body["vms"];
    if (args.json_output)
      fmt::print("{}\n", vms.dump(2));
    else
      print_table(vms);
    return kExitOk;
  }
  if (action == "show") {
    auto response = client.request("GET", path);
    if (int status = finish(response); status != kExitOk) return status;
    auto metrics = client.request("GET", path + "/metrics");
    json measured = metrics && metrics->status == 200 ? metrics->body : json::object();
    if (args.json_output) {
      json vm = response->body;
      vm["metrics"] = measured;
      fmt::print("{}\n", vm.dump(2));
    } else {
      print_vm(response->body, measured);
    }
    return kExitOk;
  }
  if (action == "create") {
    auto definition = definition_from_args(args);
    if (!definition) {
      log::error("{}", definition.error().message());
      return kExitUsage;
    }
    auto response = client.request("POST", "/v1/vms", &*definition);
    if (int status = finish(response); status != kExitOk) return status;
    if (args.json_output)
      fmt::print("{}\n", response->body.dump(2));
    else
      fmt::print("created {}\n", args.name);
    return kExitOk;
  }
  if (action == "rm") {
    auto response = client.request("DELETE", path);
    if (int status = finish(response); status != kExitOk) return status;
    if (args.json_output)
      fmt::print("{}\n", json{{"name", args.name}, {"removed", true}}.dump(2));
    else
      fmt::print("removed {}\n", args.name);
    return kExitOk;
  }
  if (action == "console") return attach_console(client, args.name);
  if (action == "snapshot") {
    json body = {{"dir", absolute_path(args.dir)}};
    auto response = client.request("POST", path + "/snapshot", &body);
    if (int status = finish(response); status != kExitOk) return status;
    const json& taken = response->body;
    if (args.json_output)
      fmt::print("{}\n", taken.dump(2));
    else
      fmt::print("{}: snapshot in {} ({} of memory, {} of disk; the guest stood still {:.1f} ms)\n",
                 args.name, taken.value("dir", ""), format_size(taken.value("memory_bytes", 0ull)),
                 format_size(taken.value("disk_bytes", 0ull)), taken.value("paused_ms", 0.0));
    return kExitOk;
  }
  if (action == "fill") {
    if (args.fill_pause == args.fill_resume) {
      log::error("fill: give one of --pause and --resume");
      return kExitUsage;
    }
    json body = {{"paused", args.fill_pause}};
    auto response = client.request("POST", path + "/fill", &body);
    if (int status = finish(response); status != kExitOk) return status;
    if (args.json_output)
      fmt::print("{}\n", response->body.dump(2));
    else
      fmt::print("{}: background fill {}\n", args.name, args.fill_pause ? "paused" : "going on");
    return kExitOk;
  }
  if (action == "restore") {
    json body = {{"snapshot", absolute_path(args.dir)}, {"name", args.name}};
    auto response = client.request("POST", "/v1/restore", &body);
    if (int status = finish(response); status != kExitOk) return status;
    if (args.json_output)
      fmt::print("{}\n", response->body.dump(2));
    else
      fmt::print("{}: {} (restored from {})\n", args.name, response->body.value("state", "?"),
                 absolute_path(args.dir));
    return kExitOk;
  }
  // start|stop|kill|pause|resume
  std::string target = path + "/" + action;
  if (action == "stop") target += fmt::format("?timeout={}", args.timeout);
  json empty = json::object();
  auto response = client.request("POST", target, &empty);
  if (int status = finish(response); status != kExitOk) return status;
  if (args.json_output) {
    fmt::print("{}\n", response->body.dump(2));
  } else {
    const json& status = response->body["status"];
    std::string reason = status.value("reason", "");
    fmt::print("{}: {}{}\n", args.name, response->body.value("state", "?"),
               reason.empty() ? "" : " (" + reason + ")");
  }
  return kExitOk;
}

}  // namespace

std::function<int()> add_vm_command(CLI::App& app) {
  CLI::App* vm = app.add_subcommand(
      "vm", "Guests managed by havend (the daemon's socket: --socket or HAVEN_SOCKET)");
  vm->require_subcommand(1);
  vm->fallthrough();  // `haven vm ls --socket S` as well as `haven vm --socket S ls`
  auto args = std::make_shared<VmArgs>();
  vm->add_option("--socket", args->socket,
                 fmt::format("havend's API socket (default {})", kDefaultSocket));

  auto named = [&](const char* name, const char* help) {
    CLI::App* sub = vm->add_subcommand(name, help);
    sub->add_option("NAME", args->name, "The guest's name")->required();
    sub->add_flag("--json", args->json_output, "Print the result as JSON");
    return sub;
  };
  CLI::App* create = named("create", "Define a guest (it does not start)");
  create->add_option("--kernel", args->kernel,
                     "Kernel: bzImage or ELF vmlinux (PVH), booted directly; or --firmware");
  create->add_option("--initrd", args->initrd, "Initial ramdisk");
  create->add_option("--cmdline", args->cmdline, "Kernel command line")
      ->each([args](const std::string&) { args->cmdline_given = true; });
  create->add_option("--memory", args->memory, "Guest RAM, e.g. 512M or 2G (default 512M)");
  create->add_option("--cpus", args->cpus, "vCPUs (default 1)");
  create->add_option("--disk", args->disks, "path=IMAGE[,readonly=on][,direct=on] (repeatable)");
  create->add_option("--net", args->nets, "tap=NAME[,mac=52:54:00:..] (repeatable)");
  create->add_flag("--rng", args->rng, "A virtio-rng device");
  create->add_option("--firmware", args->firmware,
                     "Boot through firmware instead of --kernel: bios (SeaBIOS) or uefi (OVMF)");
  create->add_option("--cdrom", args->cdrom, "An ISO image as a read-only CD-ROM");
  create->add_option("--floppy", args->floppy, "A floppy image as drive A: (bios)");
  create->add_option("--boot", args->boot, "Boot order: disk, cdrom, floppy, comma-separated");
  create->add_option("--nvram", args->nvram,
                     "UEFI variable store (default: kept by havend with the guest)");
  create
      ->add_option("--boot-timeout", args->boot_timeout,
                   "Seconds the firmware has to start a boot loader (default 60, 0 = no limit)")
      ->check(CLI::Range(0, 86400));
  create->add_option("--on-reboot", args->on_reboot,
                     "What a guest reset does: exit or restart (default: restart with firmware, "
                     "else exit)");
  create->add_option("--cpu-quota", args->cpu_quota,
                     "At most this many CPUs' worth of time, e.g. 1.5");
  create->add_option("--cpu-weight", args->cpu_weight,
                     "CPU share against other guests, 1-10000 (100)");
  create->add_option("--memory-limit", args->memory_limit,
                     "Cap on the VMM's memory (default: guest RAM + 256M)");
  CLI::App* ls = vm->add_subcommand("ls", "List guests and their states");
  ls->add_flag("--json", args->json_output, "A JSON list of objects with name and state");
  named("show", "A guest's definition, state, last stop reason and what it uses now");
  named("start", "Start a guest in its own haven-vmm process");
  CLI::App* stop = named("stop", "Stop a guest: SIGTERM to its VMM, SIGKILL after --timeout");
  stop->add_option("--timeout", args->timeout, "Seconds to wait before killing (default 30)")
      ->check(CLI::Range(0.0, 3600.0));
  named("kill", "Kill a guest's VMM at once (SIGKILL)");
  named("pause", "Freeze a running guest (its vCPUs stop; its devices finish their requests)");
  named("resume", "Let a paused guest run again");
  named("rm", "Delete a stopped guest's definition (its disks are left alone)");
  named("console",
        "Attach to a guest's serial console: output on stdout, stdin typed in "
        "(Ctrl-] leaves)");
  CLI::App* snapshot = named("snapshot",
                             "Save a running or paused guest (CPU, devices, memory, writable "
                             "disks) into DIR; the guest carries on");
  snapshot->add_option("DIR", args->dir, "Snapshot directory (made if missing)")->required();
  CLI::App* fill = named("fill",
                         "Hold back (--pause) or let go on (--resume) the background fill of a "
                         "guest's disks being restored (`haven restore --instant`)");
  fill->add_flag("--pause", args->fill_pause, "Only fetch what the guest reads");
  fill->add_flag("--resume", args->fill_resume, "Fill the rest in the background");
  CLI::App* restore = vm->add_subcommand(
      "restore", "Start a new guest that continues a snapshot (its writable disks are copied)");
  restore->add_option("DIR", args->dir, "Snapshot directory (from `haven vm snapshot`)")
      ->required();
  restore->add_option("--name", args->name, "The new guest's name")->required();
  restore->add_flag("--json", args->json_output, "Print the result as JSON");

  return [vm, args]() -> int {
    if (!vm->parsed()) return -1;
    for (CLI::App* sub : vm->get_subcommands())
      if (sub->parsed()) return run_vm_command(sub->get_name(), *args);
    return kExitUsage;
  };
}

}  // namespace haven::cli
