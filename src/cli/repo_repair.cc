#include "cli/repo_repair.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/units.h"
#include "cli/exit_codes.h"
#include "cli/passphrase.h"
#include "cli/progress_bar.h"
#include "store/repair.h"

namespace haven::cli {
namespace {

struct RepairArgs {
  std::string path;
  bool dry_run = false;
  bool json = false;
  bool quiet = false;
  unsigned threads = 0;
};

void print_json(const store::RepairReport& report) {
  nlohmann::json lost = nlohmann::json::array();
  for (const auto& snapshot : report.lost)
    lost.push_back({{"snapshot", snapshot.snapshot},
                    {"name", snapshot.name},
                    {"chunks", snapshot.chunks},
                    {"first_offset", snapshot.first_offset}});
  fmt::print("{}\n", nlohmann::json{{"ok", report.ok()},
                                    {"clean", report.clean()},
                                    {"dry_run", report.dry_run},
                                    {"index_rewritten", report.index_rewritten},
                                    {"packs", report.packs},
                                    {"listless_packs", report.listless_packs},
                                    {"blobs_checked", report.blobs_checked},
                                    {"bytes_checked", report.bytes_checked},
                                    {"chunks_indexed", report.chunks_indexed},
                                    {"chunks_recovered", report.chunks_recovered},
                                    {"chunks_dropped", report.chunks_dropped},
                                    {"damaged_blobs", report.damaged_blobs},
                                    {"unindexed_damaged_blobs", report.unindexed_damaged_blobs},
                                    {"damaged_packs", report.damaged_packs},
                                    {"damaged_index_files", report.damaged_index_files},
                                    {"missing_packs", report.missing_packs},
                                    {"lost", lost},
                                    {"damage_marks", report.damage_marks},
                                    {"set_aside_index_files", report.set_aside_index_files},
                                    {"unreadable_snapshots", report.unreadable_snapshots}}
                         .dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

void print_text(const store::RepairReport& report, bool quiet) {
  for (const auto& problem : report.damaged_index_files)
    fmt::print("BAD index file: {}\n", problem);
  for (const auto& problem : report.damaged_packs) fmt::print("BAD pack: {}\n", problem);
  for (const auto& pack : report.missing_packs)
    fmt::print("MISSING pack {} (named by the index)\n", pack);
  for (const auto& problem : report.damaged_blobs) fmt::print("BAD blob: {}\n", problem);
  for (const auto& problem : report.unreadable_snapshots)
    fmt::print("BAD snapshot manifest: {}\n", problem);
  for (const auto& lost : report.lost)
    fmt::print("LOST data in snapshot {} ({}): {} chunk(s), the first at offset {}\n",
               lost.snapshot, lost.name, lost.chunks, lost.first_offset);
  if (report.set_aside_index_files)
    fmt::print(
        "{} index file(s) were set aside in index-damaged/ by an earlier repair (read again "
        "now; prune deletes no pack while any are there)\n",
        report.set_aside_index_files);
  if (quiet && report.clean()) return;
  if (report.unindexed_damaged_blobs)
    fmt::print("{} damaged blob(s) no index names (dropped before; prune takes the space back)\n",
               report.unindexed_damaged_blobs);
  fmt::print(
      "{} pack(s) ({} without a list of blobs), {} blob(s) ({}) read back: {} chunk(s) "
      "indexed, {} recovered, {} dropped\n",
      report.packs, report.listless_packs, report.blobs_checked, human_size(report.bytes_checked),
      report.chunks_indexed, report.chunks_recovered, report.chunks_dropped);
  if (report.clean())
    fmt::print("ok: nothing to repair\n");
  else if (report.dry_run)
    fmt::print("dry run: nothing changed (run again without --dry-run to repair)\n");
  else if (report.append_only)
    fmt::print(
        "repaired as far as an append-only repository allows: {} (damaged copies are marked, "
        "not removed)\n",
        report.index_rewritten ? "entries added to the index" : "nothing to add to the index");
  else
    fmt::print("repaired: the index now names only chunks read back whole{}\n",
               report.damaged_index_files.empty() ? ""
                                                  : " (damaged index files set aside in "
                                                    "index-damaged/)");
  if (!report.lost.empty())
    fmt::print(
        "{} snapshot(s) lost data. A backup of the same disk stores the missing chunks again "
        "where its data is unchanged, which makes them whole; `haven backup verify --all` says "
        "when.\n",
        report.lost.size());
}

int run_repair(const RepairArgs& args) {
  auto repository =
      store::Repository::open_without_index(args.path, [] { return read_passphrase(false); });
  if (!repository) {
    log::error("{}", repository.error().message());
    return kExitFailed;
  }
  ProgressBar bar("repair", !args.quiet && !args.json);
  auto report = store::repair_repository(
      **repository, args.dry_run, args.threads,
      [&](const store::Progress& p) { bar.update(p.done_bytes, p.total_bytes); });
  bar.finish();
  if (!report) {
    log::error("{}", report.error().message());
    return kExitFailed;
  }
  if (args.json)
    print_json(*report);
  else
    print_text(*report, args.quiet);
  return report->ok() ? kExitOk : kExitDamaged;
}

}  // namespace

std::function<int()> add_repo_repair(CLI::App& repo) {
  auto args = std::make_shared<RepairArgs>();
  CLI::App* repair = repo.add_subcommand(
      "repair",
      "Rebuild the index from the packs: every blob is read back, damaged ones are dropped, "
      "and snapshots that lost data are named. Exit 3 when a snapshot is not whole.");
  repair->add_option("DIR", args->path, "The repository")->required();
  repair->add_flag("--dry-run", args->dry_run, "Report what a repair would do; change nothing");
  repair->add_flag("--json", args->json, "Print the report as JSON");
  repair->add_flag("-q,--quiet", args->quiet, "No progress bar; print problems only");
  repair->add_option("--threads", args->threads, "Worker threads (default: one more than cores)");
  return [repair, args]() -> int { return repair->parsed() ? run_repair(*args) : -1; };
}

}  // namespace haven::cli
