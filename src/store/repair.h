#pragma once

// `haven repo repair`: rebuilds a repository's index from what its packs hold, so that damage
// to index files, packs or both costs exactly the data that is gone and nothing more.
//
// Under the writer lock: every index file that can be read is read (a damaged one is reported
// and replaced); every pack's own list of blobs (pack.h) is read, or for a pack of the first
// layout (or whose list is damaged) the index files' entries for it; every blob so named is
// read, authenticated, decompressed and re-hashed. The new index holds one healthy copy of
// each chunk found; damaged blobs are dropped (a later backup of data holding them stores them
// again, which makes the snapshots that use them whole again: a manifest names chunks by id),
// and every snapshot that now names a chunk held nowhere is reported. An index file is deleted
// only when the new index holds all it named (but blobs whose data is wrong for good); any other
// (damaged, or naming a blob that failed to read or a missing pack) is set aside in
// index-damaged/ (Repository::set_index_file_aside), read again by the next repair and removed
// once superseded; prune leaves packs alone while any is there. A read that fails with an errno
// that says nothing of the data (EMFILE, EACCES), or a repository of which nothing reads back
// (a wrong key rather than damage), stops the repair before it changes anything. In an
// append-only repository nothing is removed: the chunks the index lacked are added, and
// damaged blobs and index files are marked (Repository::mark_damaged_at, mark_index_damaged),
// which backups and loading the index honour. A dry run changes nothing but what any writer
// does: it takes the writer lock (backups wait for it meanwhile) and clears what crashed writers
// left in tmp/.

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/backup.h"
#include "store/repository.h"

namespace haven::store {

struct LostData {
  std::string snapshot;  // id
  std::string name;
  uint64_t chunks = 0;        // the snapshot's chunks held nowhere now
  uint64_t first_offset = 0;  // in the disk, of the first of them
};

struct RepairReport {
  bool dry_run = false;
  uint64_t packs = 0;
  uint64_t listless_packs = 0;  // of the first layout: their blobs known from index files only
  uint64_t blobs_checked = 0;
  uint64_t bytes_checked = 0;
  uint64_t chunks_indexed = 0;             // distinct chunks in the index now
  uint64_t chunks_recovered = 0;           // indexed now, not before (a lost or damaged index file)
  uint64_t chunks_dropped = 0;             // indexed before, held nowhere healthy now
  std::vector<std::string> damaged_blobs;  // "chunk … (pack … at …): why"
  // Damaged blobs no index named (dropped by an earlier repair: space for prune to take back).
  uint64_t unindexed_damaged_blobs = 0;
  std::vector<std::string> damaged_packs;        // lists or whole packs that could not be read
  std::vector<std::string> damaged_index_files;  // set aside (index-damaged/) or marked
  std::vector<std::string> missing_packs;        // named by an index file, not in packs/
  std::vector<LostData> lost;                    // snapshots that lost data
  std::vector<std::string> unreadable_snapshots;
  uint64_t set_aside_index_files = 0;  // in index-damaged/ when the repair began
  uint64_t damage_marks = 0;           // chunks marked damaged (by verify) when the repair began
  bool index_rewritten = false;        // (appended to, in an append-only repository)
  // Whether every snapshot is whole (whatever was repaired to make it so).
  bool ok() const { return lost.empty() && unreadable_snapshots.empty(); }
  bool append_only = false;
  // Whether anything was found wrong (marks included, but in an append-only repository, which
  // keeps them).
  bool clean() const {
    return ok() && damaged_blobs.empty() && damaged_packs.empty() && damaged_index_files.empty() &&
           missing_packs.empty() && chunks_recovered == 0 && chunks_dropped == 0 &&
           set_aside_index_files == 0 && (append_only || damage_marks == 0);
  }
};

// `repository` opened with Repository::open_without_index (or open). With `dry_run` only
// reports what a repair would do.
Result<RepairReport> repair_repository(Repository& repository, bool dry_run, unsigned threads,
                                       const std::function<void(const Progress&)>& progress);

}  // namespace haven::store
