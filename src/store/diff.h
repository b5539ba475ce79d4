#pragma once

// What changed between two snapshots of the same disk, chunk by chunk: the byte ranges whose
// chunks differ, merged where they touch.

#include <cstdint>
#include <vector>

#include "base/error.h"
#include "store/manifest.h"

namespace haven::store {

struct ChangedRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct SnapshotDiff {
  std::vector<ChangedRange> changed;
  uint64_t changed_bytes = 0;
  uint64_t old_size = 0, new_size = 0;
};

// Fails when the two were cut into different chunk sizes.
Result<SnapshotDiff> diff_snapshots(const Snapshot& from, const Snapshot& to);

}  // namespace haven::store
