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
  bool ok() const { return damage.empty() && unreadable_snapshots.empty(); }
};

// `ids` empty: every snapshot.
Result<VerifyReport> verify_snapshots(const Repository& repository,
                                      const std::vector<std::string>& ids, unsigned threads,
                                      const std::function<void(const Progress&)>& progress);

}  // namespace haven::store
