#include "store/diff.h"

#include <algorithm>

namespace haven::store {

Result<SnapshotDiff> diff_snapshots(const Snapshot& from, const Snapshot& to) {
  if (from.chunk_size != to.chunk_size)
    return make_error("snapshots {} and {} use different chunk sizes", from.id, to.id);
  SnapshotDiff diff;
  diff.old_size = from.size;
  diff.new_size = to.size;
  uint64_t size = std::max(from.size, to.size);
  size_t count = std::max(from.chunks.size(), to.chunks.size());
  for (size_t i = 0; i < count; ++i) {
    bool same = i < from.chunks.size() && i < to.chunks.size() && from.chunks[i] == to.chunks[i];
    if (same) continue;
    uint64_t offset = i * uint64_t{from.chunk_size};
    uint64_t length = std::min<uint64_t>(from.chunk_size, size - offset);
    if (!diff.changed.empty() && diff.changed.back().offset + diff.changed.back().length == offset)
      diff.changed.back().length += length;
    else
      diff.changed.push_back({offset, length});
    diff.changed_bytes += length;
  }
  return diff;
}

}  // namespace haven::store
