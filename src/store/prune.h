#pragma once

// Which snapshots to keep (prune rules) and removing the rest (garbage collection).
//
// Rules work per snapshot name, as restic's do per host and path: --keep-last N keeps the N
// newest; --keep-hourly/daily/weekly/monthly/yearly N keep the newest snapshot of each of the
// N most recent hours/days/ISO weeks/months/years that have one (UTC). A snapshot any rule
// keeps is kept. No rule at all is an error, never "delete everything".
//
// Garbage collection, under the writer lock (so never during a backup): removes the pruned
// manifests, then rewrites the index to what the remaining snapshots use, copying the chunks
// still needed out of packs that are mostly garbage, then deletes index files and packs
// nobody needs — in that order, so a crash at any point leaves every remaining snapshot whole.
// Packs that no index names (left by a backup that died before writing its index) go too.
//
// A held snapshot (snapshot_hold.h: an instant restore still fills from it) is never removed:
// the caller leaves it out of `remove` (and says why), and one held by the time the lock is
// taken stops the prune.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/manifest.h"
#include "store/repository.h"
#include "store/snapshot_hold.h"

namespace haven::store {

struct KeepRules {
  unsigned last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;
  bool any() const { return last || hourly || daily || weekly || monthly || yearly; }
};

struct PruneDecision {
  std::vector<Snapshot> keep, remove;  // newest first
  std::vector<std::string> reasons;    // per kept snapshot, why ("last", "daily 2026-11-26"...)
};

// Pure: decides from the snapshots' names and times.
PruneDecision decide_prune(std::vector<Snapshot> snapshots, const KeepRules& rules);

// Moves the snapshots that holds protect from `decision.remove` into its keep list, each in
// its place (newest first) with why: a hold of another machine always protects; one of this
// machine protects while `still_filling(hold.image)` says its image is being restored
// (block::HydratingImage::is_restoring), and is removed otherwise, unless `dry_run`.
Result<void> keep_held_snapshots(const Repository& repository, PruneDecision& decision,
                                 bool dry_run,
                                 const std::function<bool(const std::string&)>& still_filling);

struct GcReport {
  uint64_t snapshots_removed = 0;
  uint64_t packs_removed = 0;
  uint64_t packs_rewritten = 0;
  uint64_t bytes_freed = 0;  // pack bytes, before the rewrites' new packs
  uint64_t bytes_rewritten = 0;
  // No pack deleted or rewritten: a repair set index files aside (REPO/index-damaged/, or
  // marked them), which may be the only record of data it could not read back then (see
  // Repository::set_index_file_aside). Snapshots are still removed.
  bool garbage_kept = false;
};

// Removes `remove` (by id) and collects garbage. With dry_run, reports and changes nothing.
Result<GcReport> prune_snapshots(Repository& repository, const std::vector<std::string>& remove,
                                 bool dry_run);

}  // namespace haven::store
