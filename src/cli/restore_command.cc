#include "cli/restore_command.h"

#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sys.h"
#include "cli/api_client.h"
#include "cli/exit_codes.h"
#include "cli/passphrase.h"
#include "cli/progress_bar.h"
#include "store/repo_config.h"

namespace haven::cli {
namespace {

using json = nlohmann::json;

struct RestoreArgs {
  std::string repo, snapshot, name, socket;
  bool instant = false;
  bool wait = false;
  bool fill_paused = false;
  bool json = false;
  std::string kernel, initrd, cmdline, firmware, memory;
  uint32_t cpus = 0;
};

Result<std::string> absolute(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved) return errno_error("{}", path);
  std::string out = resolved;
  std::free(resolved);
  return out;
}

// Sums the restoring disks' counters from the guest's metrics; false while none reports.
struct Fill {
  uint64_t present = 0, total = 0, failed = 0;
  bool complete = true, paused = false, filling = false;
};

// The restoring disks' fill from the guest's metrics; false while no disk reports one.
bool fill_of(const json& metrics, Fill& fill) {
  fill = {};
  bool any = false;
  for (const json& device : metrics.value("devices", json::array())) {
    if (!device.contains("total_blocks")) continue;
    any = true;
    fill.present += device.value("hydrated_blocks", uint64_t{0});
    fill.total += device.value("total_blocks", uint64_t{0});
    fill.failed += device.value("hydration_failed", uint64_t{0});
    fill.complete = fill.complete && device.value("hydration_complete", false);
    fill.paused = fill.paused || device.value("hydration_paused", false);
    fill.filling = fill.filling || device.value("hydration_filling", false);
  }
  return any;
}

// --wait: follows the background fill until every restoring disk is complete.
int wait_for_hydration(ApiClient& client, const RestoreArgs& args) {
  ProgressBar bar("restore " + args.name, !args.json);
  // The VMM answers for its devices once it has set them up, a moment after it started.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto stop = [&](std::string why) {
    bar.finish();
    log::error("{}: {}", args.name, why);
    return kExitFailed;
  };
  for (;;) {
    auto metrics = client.request("GET", "/v1/vms/" + args.name + "/metrics");
    if (!metrics) return stop(metrics.error().message());
    Fill fill;
    bool up = metrics->status == 200 && metrics->body.value("state", "") == "running";
    if (!up || !fill_of(metrics->body, fill)) {
      if (up && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the daemon
        continue;
      }
      return stop(fmt::format("no restore to follow (the guest is {})",
                              metrics->status == 200 ? metrics->body.value("state", "?") : "gone"));
    }
    bar.update(fill.present, fill.total);
    if (fill.complete) break;
    if (fill.paused)
      return stop(fmt::format("the fill is paused at {} of {} chunks: `haven vm fill {} --resume`",
                              fill.present, fill.total, args.name));
    if (!fill.filling && fill.present < fill.total)
      return stop(fmt::format(
          "the fill ended with {} chunk(s) it could not fetch (the VMM's log names them); "
          "`haven vm fill {} --resume` retries them",
          fill.total - fill.present, args.name));
    if (!fill.filling) break;  // every chunk present; the list is made durable at the next flush
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the daemon
  }
  bar.finish();
  if (!args.json)
    fmt::print("{}: restore complete; its disk is a plain local image now\n", args.name);
  return kExitOk;
}

int run_restore(const RestoreArgs& args) {
  auto repo = absolute(args.repo);
  if (!repo) {
    log::error("repository: {}", repo.error().message());
    return kExitUsage;
  }
  json body = {{"repo", *repo},
               {"snapshot", args.snapshot},
               {"name", args.name},
               {"instant", args.instant},
               {"fill_paused", args.fill_paused}};
  auto config_text = sys::read_file(*repo + "/config.json", 1 << 20);
  if (config_text) {
    auto config = store::repo_config_from_json(
        std::string_view(reinterpret_cast<const char*>(config_text->data()), config_text->size()));
    if (config && config->encrypted) {
      auto passphrase = read_passphrase(false);
      if (!passphrase) {
        log::error("{}", passphrase.error().message());
        return kExitFailed;
      }
      body["passphrase"] = *passphrase;
    }
  }
  for (auto [field, value] : {std::pair{"kernel", &args.kernel}, std::pair{"initrd", &args.initrd}})
    if (!value->empty()) {
      auto path = absolute(*value);
      if (!path) {
        log::error("--{}: {}", field, path.error().message());
        return kExitUsage;
      }
      body[field] = *path;
    }
  if (!args.cmdline.empty()) body["cmdline"] = args.cmdline;
  if (!args.firmware.empty()) body["firmware"] = args.firmware;
  if (!args.memory.empty()) body["memory"] = args.memory;
  if (args.cpus) body["cpus"] = args.cpus;
  ApiClient client(daemon_socket(args.socket));
  auto answer = client.request("POST", "/v1/restore", &body);
  if (!answer) {
    log::error("{}", answer.error().message());
    return kExitFailed;
  }
  if (answer->status != 201) {
    log::error("{}", answer->error());
    return answer->status == 400 ? kExitUsage : kExitFailed;
  }
  const json& vm = answer->body;
  if (args.json) {
    fmt::print("{}\n", vm.dump(2));
  } else {
    fmt::print("{}: {} from snapshot {} ({}, {:.2f} s)\n", args.name, vm.value("state", "?"),
               vm.value("snapshot", ""),
               args.instant ? "instant: its disk fills in the background, see `haven vm show`"
                            : "disk restored whole",
               vm.value("seconds", 0.0));
    for (const json& note : vm.value("notes", json::array()))
      fmt::print("note: {}\n", note.get<std::string>());
  }
  if (args.instant && args.wait) return wait_for_hydration(client, args);
  return kExitOk;
}

}  // namespace

std::function<int()> add_restore_command(CLI::App& app) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* restore = app.add_subcommand(
      "restore",
      "Boot a new guest from a backup snapshot, through havend. With --instant it starts at\n"
      "once on a disk that fills itself from the repository while the guest runs (chunks the\n"
      "guest touches first); otherwise the disk is restored whole first. A snapshot of a\n"
      "guest boots as that guest did (a UEFI guest with its UEFI variables); a snapshot of a\n"
      "bare disk needs --kernel or --firmware.\n"
      "Exit status: 0 started, 1 failed, 2 bad usage.");
  restore->add_option("--repo", args->repo, "Repository directory")->required();
  restore->add_option("SNAPSHOT", args->snapshot, "Snapshot id or unique prefix")->required();
  restore->add_option("--name", args->name, "The new guest's name")->required();
  restore->add_flag("--instant", args->instant, "Start at once; fill the disk in the background");
  restore->add_flag("--wait", args->wait, "With --instant: follow the fill until it completes");
  restore->add_flag("--fill-paused", args->fill_paused,
                    "With --instant: only fetch what the guest reads until `haven vm fill NAME "
                    "--resume`");
  restore->add_option("--kernel", args->kernel,
                      "Boot this kernel directly instead of as the snapshot's guest does (a bare "
                      "disk's snapshot needs --kernel or --firmware)");
  restore->add_option("--initrd", args->initrd, "Initial ramdisk");
  restore->add_option("--cmdline", args->cmdline, "Kernel command line");
  restore
      ->add_option("--firmware", args->firmware,
                   "Boot the disk's own boot loader through this firmware (bios: SeaBIOS, uefi: "
                   "OVMF, with the UEFI variables the snapshot carries or fresh ones) instead of "
                   "as the snapshot's guest does; for a whole machine's disk")
      ->check(CLI::IsMember({"bios", "uefi"}));
  restore->add_option("--memory", args->memory, "Guest RAM (say 512M)");
  restore->add_option("--cpus", args->cpus, "vCPUs");
  restore->add_flag("--json", args->json, "Print JSON for scripts");
  restore->add_option("--socket", args->socket,
                      fmt::format("havend's API socket (default {})", kDefaultSocket));
  return [restore, args]() -> int { return restore->parsed() ? run_restore(*args) : -1; };
}

}  // namespace haven::cli
