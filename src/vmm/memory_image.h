#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "memory/guest_memory.h"
#include "vmm/snapshot_file.h"

namespace haven::vmm {

struct MemoryImage {
  std::vector<SnapshotRegion> regions;
  uint64_t data_bytes = 0;  // written; the rest are holes
};

// Writes guest RAM to `path` through a temporary file beside it, renamed into place once
// synced. Sparse: pages never touched (neither present nor in swap: /proc/self/pagemap)
// and pages of zeros are holes. The guest must be paused. After the regions comes a mark
// naming `snapshot_id` (a snapshot's id, snapshot_layout.h).
Result<MemoryImage> write_memory_image(const memory::GuestMemory& memory, const std::string& path,
                                       const std::string& snapshot_id);

// Maps the image at `path` as guest memory laid out as `regions`, copy-on-write. With a
// `snapshot_id`, the image must bear its mark: RAM saved by another snapshot is refused.
Result<memory::GuestMemory> map_memory_image(const std::string& path,
                                             std::span<const SnapshotRegion> regions,
                                             const std::string& snapshot_id);

}  // namespace haven::vmm
