#pragma once

// Where each chunk lives: chunk id -> (pack, offset, length). On disk as index files, each
// written by one backup once its packs are durable (index/<random id>), decoded and merged
// when a repository is opened. In memory a hash table guarded for the backup's worker threads.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
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

// In memory: an open-addressing table (linear probing) over one array of entries, so loading
// a repository's index makes no allocation per chunk; the first entry of an id is kept.
class ChunkIndex {
 public:
  void add(const IndexEntry& entry);
  // Many at once (an index file): one lock, and room made once.
  void add(std::span<const IndexEntry> entries);
  // The same, except that an id already present at a place `damaged` names takes the new
  // entry's place when that one is not damaged: a copy stored again after damage was found.
  void add(std::span<const IndexEntry> entries,
           const std::function<bool(const ChunkLocation&)>& damaged);
  std::optional<ChunkLocation> find(const ChunkId& id) const;
  bool contains(const ChunkId& id) const { return find(id).has_value(); }
  // Whether every id of `ids` that `exempt` does not pass over is present (one lock for all).
  bool contains_all(std::span<const ChunkId> ids, bool (*exempt)(const ChunkId&)) const;
  size_t size() const;
  void clear();
  // Takes `other`'s entries in place of these, at once for concurrent readers.
  void replace_with(ChunkIndex&& other);
  // Every entry (for verify --all and garbage collection).
  std::vector<IndexEntry> entries() const;

 private:
  struct Table {
    std::vector<IndexEntry> entries;  // in the order added
    // 0 for an empty slot, else 1 + the entry's position; a power of two long, at most half
    // full.
    std::vector<uint32_t> slots;

    // The slot holding `id`, or the empty one where it would go.
    size_t slot_of(const ChunkId& id) const;
    const IndexEntry* find(const ChunkId& id) const;
    void insert(const IndexEntry& entry);
    void insert_or_heal(const IndexEntry& entry,
                        const std::function<bool(const ChunkLocation&)>& damaged);
    // Room for `count` entries without growing again.
    void reserve(size_t count);
  };

  mutable SharedMutex m_mutex;
  Table m_table HAVEN_GUARDED_BY(m_mutex);
};

}  // namespace haven::store
