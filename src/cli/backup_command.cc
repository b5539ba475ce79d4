#include "cli/backup_command.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sys.h"
#include "base/units.h"
#include "block/hydrating_image.h"
#include "cli/api_client.h"
#include "cli/boot_verify.h"
#include "cli/exit_codes.h"
#include "cli/passphrase.h"
#include "cli/progress_bar.h"
#include "store/backup.h"
#include "store/boot_record.h"
#include "store/diff.h"
#include "store/prune.h"
#include "store/repo_config.h"
#include "store/restore.h"
#include "store/snapshot_hold.h"
#include "store/verify.h"

namespace haven::cli {
namespace {

struct BackupArgs {
  std::string repo;
  bool json = false;
  bool quiet = false;
  unsigned threads = 0;
  // create
  std::string source, name;
  std::vector<std::string> tags;
  bool force_read = false;
  std::string vm, socket;  // create --vm: through havend
  // verify --boot
  bool boot = false;
  BootVerifyArgs boot_args;
  // show, restore, verify
  std::string snapshot;
  std::string target;
  bool all = false;
  bool overwrite = false;
  // diff
  std::string other;
  // prune
  store::KeepRules keep;
  std::string only_name;
  bool dry_run = false;
};

std::string iso_time(int64_t seconds) {
  std::time_t time = seconds;
  std::tm utc{};
  ::gmtime_r(&time, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

nlohmann::json snapshot_json(const store::SnapshotHead& snapshot) {
  return {{"id", snapshot.id},
          {"name", snapshot.name},
          {"time", iso_time(snapshot.time)},
          {"source", snapshot.source},
          {"size", snapshot.size},
          {"chunk_size", snapshot.chunk_size},
          {"chunks", snapshot.chunk_count()},
          {"zero_chunks", snapshot.zero_chunks},
          {"tags", snapshot.tags},
          {"new_bytes", snapshot.new_bytes},
          {"stored_bytes", snapshot.stored_bytes},
          {"parent", snapshot.parent.empty() ? nlohmann::json() : nlohmann::json(snapshot.parent)}};
}

Result<std::unique_ptr<store::Repository>> open_repo(const BackupArgs& args) {
  return store::Repository::open(args.repo, [] { return read_passphrase(false); });
}

int fail(const Error& error) {
  log::error("{}", error.message());
  return kExitFailed;
}

// The repository's passphrase when it is encrypted ("" when not), for havend.
Result<std::string> passphrase_for(const std::string& repo) {
  auto text = TRY(sys::read_file(repo + "/config.json", 1 << 20));
  auto config = TRY(with_context(store::repo_config_from_json(std::string_view(
                                     reinterpret_cast<const char*>(text.data()), text.size())),
                                 "{}", repo));
  if (!config.encrypted) return std::string();
  return read_passphrase(false);
}

// `backup create --repo DIR --vm NAME`: havend backs the guest up (running or stopped) as a
// job, followed here until it ends.
int run_create_vm(const BackupArgs& args) {
  std::string repo = args.repo;
  if (!repo.empty() && repo.front() != '/') {
    char* absolute = ::realpath(repo.c_str(), nullptr);
    if (!absolute) return fail(Error::from_errno(fmt::format("repository {}", repo), errno));
    repo = absolute;
    std::free(absolute);
  }
  auto passphrase = passphrase_for(repo);
  if (!passphrase) return fail(passphrase.error());
  ApiClient client(daemon_socket(args.socket));
  nlohmann::json body = {{"repo", repo}, {"tags", args.tags}};
  if (!passphrase->empty()) body["passphrase"] = *passphrase;
  auto started = client.request("POST", "/v1/vms/" + args.vm + "/backup", &body);
  if (!started) return fail(started.error());
  if (started->status != 202) {
    log::error("{}", started->error());
    return started->status == 400 ? kExitUsage : kExitFailed;
  }
  std::string job = started->body.value("id", "");
  ProgressBar bar("backup " + args.vm, !args.quiet && !args.json);
  nlohmann::json state;
  // A long poll: the daemon answers as soon as the job ends, else after 200 ms with progress.
  for (;;) {
    auto polled = client.request("GET", "/v1/jobs/" + job + "?wait=200");
    if (!polled) return fail(polled.error());
    if (polled->status != 200) {
      log::error("job {}: {}", job, polled->error());
      return kExitFailed;
    }
    state = polled->body;
    if (state.value("state", "") != "running") break;
    const auto& progress = state["progress"];
    if (progress.contains("total_bytes"))
      bar.update(progress.value("done_bytes", uint64_t{0}),
                 progress.value("total_bytes", uint64_t{0}));
  }
  bar.finish();
  if (state.value("state", "") != "succeeded") {
    log::error("{}", state.value("error", std::string("the backup failed")));
    return kExitFailed;
  }
  const auto& result = state["result"];
  if (args.json) {
    fmt::print("{}\n", result.dump(2));
  } else if (!args.quiet) {
    for (const auto& disk : result["snapshots"])
      fmt::print("disk {} ({}): snapshot {} of {}, {}{}: read {}, {} new, {} stored, in {:.1f} s\n",
                 disk["disk"].get<size_t>(), disk["path"].get<std::string>(),
                 disk["id"].get<std::string>(), human_size(disk["size"].get<uint64_t>()),
                 disk["incremental"].get<bool>() ? "incremental" : "full",
                 disk["running"].get<bool>() ? ", guest running" : "",
                 human_size(disk["read_bytes"].get<uint64_t>()),
                 human_size(disk["new_bytes"].get<uint64_t>()),
                 human_size(disk["stored_bytes"].get<uint64_t>()), disk["seconds"].get<double>());
  }
  return kExitOk;
}

int run_create(const BackupArgs& args) {
  if (!args.vm.empty()) {
    if (!args.source.empty() || !args.name.empty() || args.force_read) {
      log::error("--vm backs up the guest's disks: give no SOURCE, --name or --force-read");
      return kExitUsage;
    }
    return run_create_vm(args);
  }
  if (args.source.empty() || args.name.empty()) {
    log::error("give SOURCE and --name, or --vm NAME");
    return kExitUsage;
  }
  auto repo = open_repo(args);
  if (!repo) return fail(repo.error());
  ProgressBar bar("backup", !args.quiet && !args.json);
  uint64_t read_bytes = 0;
  store::BackupOptions options{args.source, args.name, args.tags, args.threads,
                               [&](const store::Progress& p) {
                                 read_bytes = p.read_bytes;
                                 bar.update(p.done_bytes, p.total_bytes);
                               }};
  options.force_read = args.force_read;
  auto started = std::chrono::steady_clock::now();
  auto snapshot = store::backup_image(**repo, options);
  bar.finish();
  if (!snapshot) return fail(snapshot.error());
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (args.json) {
    auto out = snapshot_json(*snapshot);
    out["seconds"] = seconds;
    out["read_bytes"] = read_bytes;
    fmt::print("{}\n", out.dump(2));
  } else if (!args.quiet && !snapshot->parent.empty()) {
    fmt::print(
        "snapshot {} of {} ({}): unchanged since snapshot {}, nothing read, in {:.2f} s "
        "(--force-read reads it)\n",
        snapshot->id, snapshot->source, human_size(snapshot->size), snapshot->parent, seconds);
  } else if (!args.quiet) {
    fmt::print("snapshot {} of {} ({}): read {}, {} new, {} stored, in {:.1f} s\n", snapshot->id,
               snapshot->source, human_size(snapshot->size), human_size(read_bytes),
               human_size(snapshot->new_bytes), human_size(snapshot->stored_bytes), seconds);
  }
  return kExitOk;
}

int run_list(const BackupArgs& args) {
  auto repo = open_repo(args);
  if (!repo) return fail(repo.error());
  std::vector<std::string> problems;
  auto snapshots = (*repo)->list_snapshot_heads(&problems);
  if (!snapshots) return fail(snapshots.error());
  for (const std::string& problem : problems) log::warn("{}", problem);
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& snapshot : *snapshots) list.push_back(snapshot_json(snapshot));
    fmt::print("{}\n", nlohmann::json{{"snapshots", list}}.dump(2));
    return problems.empty() ? kExitOk : kExitDamaged;
  }
  fmt::print("{:<16}  {:<20}  {:<16}  {:>10}  {:>10}  {}\n", "ID", "TIME", "NAME", "SIZE", "ADDED",
             "SOURCE");
  for (const auto& snapshot : *snapshots)
    fmt::print("{:<16}  {:<20}  {:<16}  {:>10}  {:>10}  {}\n", snapshot.id, iso_time(snapshot.time),
               snapshot.name, human_size(snapshot.size), human_size(snapshot.stored_bytes),
               snapshot.source);
  return problems.empty() ? kExitOk : kExitDamaged;
}

int run_show(const BackupArgs& args) {
  auto repo = open_repo(args);
  if (!repo) return fail(repo.error());
  auto snapshot = (*repo)->find_snapshot_head(args.snapshot);
  if (!snapshot) return fail(snapshot.error());
  auto json = snapshot_json(*snapshot);
  if (snapshot->disk >= 0) json["vm_disk"] = snapshot->disk;
  if (!snapshot->nvram.empty()) json["uefi_variables"] = snapshot->nvram.size();
  if (auto record = store::read_boot_record(**repo, snapshot->id); record && *record)
    json["boot_check"] = fmt::format(
        "{} at {} ({})", (*record)->passed ? "passed" : "FAILED", iso_time((*record)->time),
        (*record)->passed ? fmt::format("'{}' after {:.1f} s", (*record)->ready, (*record)->seconds)
                          : (*record)->reason);
  if (args.json) {
    fmt::print("{}\n", json.dump(2));
    return kExitOk;
  }
  for (const auto& [key, value] : json.items()) {
    if (value.is_null()) continue;  // "parent" of a snapshot that read its source
    fmt::print("{:<13} {}\n", key + ":",
               value.is_string() ? value.get<std::string>() : value.dump());
  }
  return kExitOk;
}

int run_restore(const BackupArgs& args) {
  auto repo = open_repo(args);
  if (!repo) return fail(repo.error());
  auto snapshot = (*repo)->find_snapshot(args.snapshot);
  if (!snapshot) return fail(snapshot.error());
  ProgressBar bar("restore", !args.quiet && !args.json);
  auto started = std::chrono::steady_clock::now();
  auto restored = store::restore_snapshot(
      **repo, *snapshot, {args.target, args.threads, args.overwrite, [&](const store::Progress& p) {
                            bar.update(p.done_bytes, p.total_bytes);
                          }});
  bar.finish();
  if (!restored) return fail(restored.error());
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (args.json)
    fmt::print("{}\n", nlohmann::json{{"snapshot", snapshot->id},
                                      {"target", args.target},
                                      {"size", snapshot->size},
                                      {"seconds", seconds}}
                           .dump(2));
  else if (!args.quiet)
    fmt::print("restored snapshot {} to {} ({}) in {:.1f} s\n", snapshot->id, args.target,
               human_size(snapshot->size), seconds);
  return kExitOk;
}

// verify --boot: the VMM reads the repository itself; an encrypted one's keys are handed to
// it (store/key_handoff.h).
int run_verify_boot(const BackupArgs& args) {
  if (args.snapshot.empty() || args.all) {
    log::error("verify --boot: name one SNAPSHOT");
    return kExitUsage;
  }
  char* absolute = ::realpath(args.repo.c_str(), nullptr);  // the VMM is told where it is
  if (!absolute) return fail(Error::from_errno(fmt::format("repository {}", args.repo), errno));
  std::string path = absolute;
  std::free(absolute);
  auto repo = store::Repository::open(path, [] { return read_passphrase(false); });
  if (!repo) return fail(repo.error());
  BootVerifyArgs boot = args.boot_args;
  boot.snapshot = args.snapshot;
  boot.json = args.json;
  boot.quiet = args.quiet;
  return run_boot_verify(**repo, boot);
}

int run_verify(const BackupArgs& args) {
  if (args.boot) return run_verify_boot(args);
  if (args.all == !args.snapshot.empty()) {
    log::error("verify: name a SNAPSHOT or give --all");
    return kExitUsage;
  }
  auto repo = open_repo(args);
  if (!repo) return fail(repo.error());
  ProgressBar bar("verify", !args.quiet && !args.json);
  std::vector<std::string> ids;
  if (!args.all) ids.push_back(args.snapshot);
  auto report = store::verify_snapshots(**repo, ids, args.threads, [&](const store::Progress& p) {
    bar.update(p.done_bytes, p.total_bytes);
  });
  bar.finish();
  if (!report) return fail(report.error());
  if (args.json) {
    nlohmann::json damage = nlohmann::json::array();
    for (const auto& d : report->damage)
      damage.push_back(
          {{"snapshot", d.snapshot}, {"offset", d.offset}, {"chunk", d.chunk}, {"error", d.error}});
    fmt::print("{}\n", nlohmann::json{{"ok", report->ok()},
                                      {"snapshots", report->snapshots},
                                      {"chunks_checked", report->chunks_checked},
                                      {"bytes_checked", report->bytes_checked},
                                      {"damage", damage},
                                      {"unreadable_snapshots", report->unreadable_snapshots},
                                      {"chunks_marked", report->chunks_marked},
                                      {"marking_errors", report->marking_errors}}
                           .dump(2));
  } else {
    for (const auto& problem : report->unreadable_snapshots)
      fmt::print("BAD snapshot manifest: {}\n", problem);
    for (const auto& d : report->damage)
      fmt::print("BAD snapshot {} offset {}: chunk {}: {}\n", d.snapshot, d.offset,
                 d.chunk.substr(0, 16), d.error);
    if (!args.quiet || !report->ok())
      fmt::print("{}: {} snapshot(s), {} distinct chunks ({}) checked, {} damaged offset(s)\n",
                 report->ok() ? "ok" : "DAMAGED", report->snapshots, report->chunks_checked,
                 human_size(report->bytes_checked), report->damage.size());
    if (report->chunks_marked)
      fmt::print(
          "{} damaged chunk(s) marked: the next backup of data holding them stores them again, "
          "and the snapshots above read that copy\n",
          report->chunks_marked);
    for (const auto& error : report->marking_errors)
      fmt::print("could not mark a damaged chunk: {}\n", error);
  }
  return report->ok() ? kExitOk : kExitDamaged;
}

int run_diff(const BackupArgs& args) {
  auto repo = open_repo(args);
  if (!repo) return fail(repo.error());
  auto from = (*repo)->find_snapshot(args.snapshot);
  if (!from) return fail(from.error());
  auto to = (*repo)->find_snapshot(args.other);
  if (!to) return fail(to.error());
  auto diff = store::diff_snapshots(*from, *to);
  if (!diff) return fail(diff.error());
  if (args.json) {
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto& range : diff->changed)
      ranges.push_back({{"offset", range.offset}, {"length", range.length}});
    fmt::print("{}\n", nlohmann::json{{"from", from->id},
                                      {"to", to->id},
                                      {"old_size", diff->old_size},
                                      {"new_size", diff->new_size},
                                      {"changed_bytes", diff->changed_bytes},
                                      {"changed", ranges}}
                           .dump(2));
    return kExitOk;
  }
  for (const auto& range : diff->changed)
    fmt::print("changed {:>14} +{}\n", range.offset, human_size(range.length));
  fmt::print("{} -> {}: {} in {} range(s) changed{}\n", from->id, to->id,
             human_size(diff->changed_bytes), diff->changed.size(),
             diff->old_size == diff->new_size
                 ? ""
                 : fmt::format(", size {} -> {}", diff->old_size, diff->new_size));
  return kExitOk;
}

int run_prune(const BackupArgs& args) {
  if (!args.keep.any()) {
    log::error("prune: give at least one --keep-* rule (nothing would be kept otherwise)");
    return kExitUsage;
  }
  auto repo = open_repo(args);
  if (!repo) return fail(repo.error());
  auto snapshots = (*repo)->list_snapshots();
  if (!snapshots) return fail(snapshots.error());
  std::erase_if(*snapshots, [&](const store::Snapshot& snapshot) {
    return !args.only_name.empty() && snapshot.name != args.only_name;
  });
  auto decision = store::decide_prune(std::move(*snapshots), args.keep);
  auto held = store::keep_held_snapshots(**repo, decision, args.dry_run,
                                         block::HydratingImage::is_restoring);
  if (!held) return fail(held.error());
  std::vector<std::string> remove;
  for (const auto& snapshot : decision.remove) remove.push_back(snapshot.id);
  auto report = store::prune_snapshots(**repo, remove, args.dry_run);
  if (!report) return fail(report.error());
  if (args.json) {
    nlohmann::json keep = nlohmann::json::array(), removed = nlohmann::json::array();
    for (size_t i = 0; i < decision.keep.size(); ++i) {
      auto entry = snapshot_json(decision.keep[i]);
      entry["reason"] = decision.reasons[i];
      keep.push_back(entry);
    }
    for (const auto& snapshot : decision.remove) removed.push_back(snapshot_json(snapshot));
    fmt::print("{}\n", nlohmann::json{{"dry_run", args.dry_run},
                                      {"keep", keep},
                                      {"remove", removed},
                                      {"packs_removed", report->packs_removed},
                                      {"packs_rewritten", report->packs_rewritten},
                                      {"bytes_freed", report->bytes_freed},
                                      {"bytes_rewritten", report->bytes_rewritten},
                                      {"garbage_kept", report->garbage_kept}}
                           .dump(2));
    return kExitOk;
  }
  for (size_t i = 0; i < decision.keep.size(); ++i)
    fmt::print("keep    {}  {}  {:<16}  ({})\n", decision.keep[i].id,
               iso_time(decision.keep[i].time), decision.keep[i].name, decision.reasons[i]);
  for (const auto& snapshot : decision.remove)
    fmt::print("{}  {}  {}  {}\n", args.dry_run ? "would remove" : "remove", snapshot.id,
               iso_time(snapshot.time), snapshot.name);
  fmt::print("{}{} snapshot(s) removed, {} pack(s) deleted ({} rewritten), {} freed\n",
             args.dry_run ? "dry run: " : "", decision.remove.size(), report->packs_removed,
             report->packs_rewritten,
             human_size(report->bytes_freed > report->bytes_rewritten
                            ? report->bytes_freed - report->bytes_rewritten
                            : 0));
  if (report->garbage_kept)
    fmt::print(
        "no pack deleted or rewritten: `repo repair` set index files aside in {}/index-damaged "
        "(remove them once nothing there is needed, or run `repo repair` again once what it "
        "could not read is back)\n",
        args.repo);
  return kExitOk;
}

void add_common(CLI::App* command, BackupArgs& args) {
  command->add_option("--repo", args.repo, "Repository directory")->required();
  command->add_flag("--json", args.json, "Print JSON for scripts");
  command->add_flag("-q,--quiet", args.quiet, "No progress bar or summary");
  command->add_option("--threads", args.threads, "Worker threads (default: one more than cores)");
}

}  // namespace

std::function<int()> add_backup_command(CLI::App& app) {
  CLI::App* backup =
      app.add_subcommand("backup",
                         "Backups of disk images in a repository (see `haven repo init`).\n"
                         "Exit status: 0 done, 1 failed, 2 bad usage, 3 damage found.");
  backup->require_subcommand(1);
  auto args = std::make_shared<BackupArgs>();

  CLI::App* create = backup->add_subcommand(
      "create",
      "Back up a disk image file or block device as a new snapshot, or (--vm) every writable\n"
      "disk of a guest havend runs, running or stopped: incremental with cbt=on disks");
  add_common(create, *args);
  create->add_option("SOURCE", args->source, "Disk image file or block device");
  create->add_option("--name", args->name, "The snapshot's name (say, the VM's)");
  create->add_option("--vm", args->vm, "Back up this guest's disks through havend");
  create->add_option("--socket", args->socket,
                     fmt::format("havend's API socket, with --vm (default {})", kDefaultSocket));
  create->add_option("--tag", args->tags, "A tag (repeatable)");
  create->add_flag("--force-read", args->force_read,
                   "Read SOURCE even when it is unchanged since the last snapshot of the same "
                   "--name\n(in a repository of format 2, a regular file with the same device, "
                   "inode, size,\nmodification and change time, both older than that backup by "
                   "3 s, is otherwise\ntaken from that snapshot without being read)");

  CLI::App* list = backup->add_subcommand("list", "List snapshots, oldest first");
  add_common(list, *args);

  CLI::App* show = backup->add_subcommand("show", "Show one snapshot");
  add_common(show, *args);
  show->add_option("SNAPSHOT", args->snapshot, "Snapshot id or unique prefix")->required();

  CLI::App* restore = backup->add_subcommand(
      "restore", "Restore a snapshot to a file (written sparse) or block device");
  add_common(restore, *args);
  restore->add_option("SNAPSHOT", args->snapshot, "Snapshot id or unique prefix")->required();
  restore->add_option("TARGET", args->target, "File or block device to write")->required();
  restore->add_flag("--overwrite", args->overwrite, "Replace TARGET if it is an existing file");

  CLI::App* verify = backup->add_subcommand(
      "verify", "Re-read and re-hash every chunk of a snapshot (or all); exit 3 on damage");
  add_common(verify, *args);
  verify->add_option("SNAPSHOT", args->snapshot, "Snapshot id or unique prefix");
  verify->add_flag("--all", args->all, "Every snapshot in the repository");
  verify->add_flag("--boot", args->boot,
                   "Boot the snapshot in a throwaway VM (no network, nothing written back) and "
                   "wait for --ready on its console; the result and transcript are stored with "
                   "the snapshot");
  verify->add_option("--ready", args->boot_args.ready,
                     "With --boot: console text meaning it booted (default \"login:\"), written "
                     "to the guest's serial console (ttyS0)");
  verify->add_option(
      "--timeout", args->boot_args.timeout,
      fmt::format("With --boot: seconds to wait for it (default {}; {} for a guest that boots "
                  "through firmware, whose firmware and boot loader run first)",
                  BootVerifyArgs::kDirectBootTimeout, BootVerifyArgs::kFirmwareBootTimeout));
  verify->add_option("--kernel", args->boot_args.kernel,
                     "With --boot: boot this kernel directly instead of as the snapshot's guest "
                     "does (a bare disk's snapshot needs --kernel or --firmware)");
  verify->add_option("--initrd", args->boot_args.initrd, "With --boot: the initial ramdisk");
  verify->add_option("--cmdline", args->boot_args.cmdline, "With --boot: the kernel command line");
  verify
      ->add_option("--firmware", args->boot_args.firmware,
                   "With --boot: boot the disk's own boot loader through this firmware (bios: "
                   "SeaBIOS, uefi: OVMF with the UEFI variables the snapshot carries, or fresh "
                   "ones) instead of as the snapshot's guest does; for a whole machine's disk")
      ->check(CLI::IsMember({"bios", "uefi"}));
  verify->add_option("--memory", args->boot_args.memory, "With --boot: guest RAM (say 512M)");
  verify->add_option("--cpus", args->boot_args.cpus, "With --boot: vCPUs");

  CLI::App* diff =
      backup->add_subcommand("diff", "Which parts of the disk changed between two snapshots");
  add_common(diff, *args);
  diff->add_option("FROM", args->snapshot, "The older snapshot")->required();
  diff->add_option("TO", args->other, "The newer snapshot")->required();

  CLI::App* prune = backup->add_subcommand(
      "prune",
      "Remove snapshots the --keep-* rules do not keep (per snapshot name), then the data\n"
      "only they used. A snapshot an instant restore still fills from is kept (held) until\n"
      "its disk is complete or deleted. Refused on an append-only repository.");
  add_common(prune, *args);
  prune->add_option("--keep-last", args->keep.last, "Keep the N newest");
  prune->add_option("--keep-hourly", args->keep.hourly, "Keep the newest of each of N hours");
  prune->add_option("--keep-daily", args->keep.daily, "Keep the newest of each of N days");
  prune->add_option("--keep-weekly", args->keep.weekly, "Keep the newest of each of N weeks");
  prune->add_option("--keep-monthly", args->keep.monthly, "Keep the newest of each of N months");
  prune->add_option("--keep-yearly", args->keep.yearly, "Keep the newest of each of N years");
  prune->add_option("--name", args->only_name, "Only consider snapshots with this name");
  prune->add_flag("-n,--dry-run", args->dry_run, "Show what would go; change nothing");

  return [=]() -> int {
    if (create->parsed()) return run_create(*args);
    if (list->parsed()) return run_list(*args);
    if (show->parsed()) return run_show(*args);
    if (restore->parsed()) return run_restore(*args);
    if (verify->parsed()) return run_verify(*args);
    if (diff->parsed()) return run_diff(*args);
    if (prune->parsed()) return run_prune(*args);
    return -1;
  };
}

}  // namespace haven::cli
