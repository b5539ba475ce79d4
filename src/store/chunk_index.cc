#include "store/chunk_index.h"

#include <cstring>

namespace haven::store {

std::vector<uint8_t> encode_index(const std::vector<IndexEntry>& entries) {
  std::vector<uint8_t> bytes(entries.size() * kIndexEntryBytes);
  uint8_t* at = bytes.data();
  for (const IndexEntry& entry : entries) {
    std::memcpy(at, entry.id.bytes.data(), 32);
    std::memcpy(at + 32, entry.location.pack.data(), 16);
    std::memcpy(at + 48, &entry.location.offset, 8);
    std::memcpy(at + 56, &entry.location.length, 4);
    std::memcpy(at + 60, &entry.location.plain_size, 4);
    at += kIndexEntryBytes;
  }
  return bytes;
}

Result<std::vector<IndexEntry>> decode_index(std::span<const uint8_t> bytes) {
  if (bytes.size() % kIndexEntryBytes)
    return make_error("index of {} bytes is not whole entries", bytes.size());
  std::vector<IndexEntry> entries(bytes.size() / kIndexEntryBytes);
  const uint8_t* at = bytes.data();
  for (IndexEntry& entry : entries) {
    std::memcpy(entry.id.bytes.data(), at, 32);
    std::memcpy(entry.location.pack.data(), at + 32, 16);
    std::memcpy(&entry.location.offset, at + 48, 8);
    std::memcpy(&entry.location.length, at + 56, 4);
    std::memcpy(&entry.location.plain_size, at + 60, 4);
    at += kIndexEntryBytes;
  }
  return entries;
}

void ChunkIndex::add(const IndexEntry& entry) {
  ExclusiveLock lock(m_mutex);
  m_map.emplace(entry.id, entry.location);
}

std::optional<ChunkLocation> ChunkIndex::find(const ChunkId& id) const {
  SharedLock lock(m_mutex);
  auto found = m_map.find(id);
  if (found == m_map.end()) return std::nullopt;
  return found->second;
}

void ChunkIndex::clear() {
  ExclusiveLock lock(m_mutex);
  m_map.clear();
}

size_t ChunkIndex::size() const {
  SharedLock lock(m_mutex);
  return m_map.size();
}

std::vector<IndexEntry> ChunkIndex::entries() const {
  SharedLock lock(m_mutex);
  std::vector<IndexEntry> out;
  out.reserve(m_map.size());
  for (const auto& [id, location] : m_map) out.push_back({id, location});
  return out;
}

void ChunkIndex::replace_with(ChunkIndex&& other) {
  // The other's entries are taken out under its lock, then swapped in under this one: never
  // both locks at once, so two indexes replacing each other cannot deadlock.
  std::unordered_map<ChunkId, ChunkLocation, ChunkIdHash> taken;
  {
    ExclusiveLock other_lock(other.m_mutex);
    taken.swap(other.m_map);
  }
  ExclusiveLock lock(m_mutex);
  m_map.swap(taken);
}

}  // namespace haven::store
