#pragma once

// Where each chunk lives: chunk id -> (pack, offset, length). On disk as index files, each
// written by one backup once its packs are durable (index/<random id>), decoded and merged
// when a repository is opened. In memory a hash map guarded for the backup's worker threads.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/mutex.h"
#include "store/chunk_id.h"

namespace haven::store {

using PackId = std::array<uint8_t, 16>;

struct ChunkLocation {
  PackId pack{};
  uint64_t offset = 0;
  uint32_t length = 0;      // the encoded blob's bytes in the pack
  uint32_t plain_size = 0;  // the chunk's bytes
};

struct IndexEntry {
  ChunkId id;
  ChunkLocation location;
};

inline constexpr size_t kIndexEntryBytes = 32 + 16 + 8 + 4 + 4;

std::vector<uint8_t> encode_index(const std::vector<IndexEntry>& entries);
Result<std::vector<IndexEntry>> decode_index(std::span<const uint8_t> bytes);

class ChunkIndex {
 public:
  void add(const IndexEntry& entry);
  std::optional<ChunkLocation> find(const ChunkId& id) const;
  bool contains(const ChunkId& id) const { return find(id).has_value(); }
  size_t size() const;
  void clear();
  // Takes `other`'s entries in place of these, at once for concurrent readers.
  void replace_with(ChunkIndex&& other);
  // Every entry (for verify --all and garbage collection).
  std::vector<IndexEntry> entries() const;

 private:
  mutable SharedMutex m_mutex;
  std::unordered_map<ChunkId, ChunkLocation, ChunkIdHash> m_map HAVEN_GUARDED_BY(m_mutex);
};

}  // namespace haven::store
