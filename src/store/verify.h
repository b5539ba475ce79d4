#pragma once

// Checking snapshots against their data: every distinct chunk the chosen snapshots use is
// read, authenticated, decompressed and re-hashed once; each bad chunk is reported with every
// snapshot and disk offset it touches, so a user knows exactly what a damaged pack costs.

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/backup.h"
#include "store/repository.h"

namespace haven::store {

struct Damage {
  std::string snapshot;  // id
  uint64_t offset = 0;   // in the disk
  std::string chunk;     // id (hex)
  std::string error;
};

struct VerifyReport {
  uint64_t snapshots = 0;
  uint64_t chunks_checked = 0;  // distinct
  uint64_t bytes_checked = 0;
  std::vector<Damage> damage;
  std::vector<std::string> unreadable_snapshots;  // manifests that could not be read
  // Chunks whose stored blob failed its integrity check (or read as EIO, EBADMSG, EUCLEAN: rot
  // the storage found), marked in the repository (Repository::mark_damaged) so the next backup
  // of their data stores them again; one that could not be read for another errno (a pack
  // that could not be opened: EMFILE) is reported, not marked; a repository that cannot be
  // written keeps no marks.
  uint64_t chunks_marked = 0;
  std::vector<std::string> marking_errors;
  bool ok() const { return damage.empty() && unreadable_snapshots.empty(); }
};

// Whether a failed read of a chunk says its stored blob is damaged: an integrity failure (no
// errno) or rot the storage reports itself (EIO, EBADMSG, EUCLEAN: bad sectors, btrfs or ZFS
// checksums); not an errno such as EMFILE, which says nothing of the data.
bool means_damage(const Error& error);

// `ids` empty: every snapshot. Each damaged chunk is marked (see VerifyReport).
Result<VerifyReport> verify_snapshots(const Repository& repository,
                                      const std::vector<std::string>& ids, unsigned threads,
                                      const std::function<void(const Progress&)>& progress);

}  // namespace haven::store
