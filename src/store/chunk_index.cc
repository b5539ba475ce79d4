#include "store/chunk_index.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <stdexcept>

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

namespace {

// At most this many entries (positions fit in 31 bits, slots in 32).
constexpr size_t kMaxEntries = size_t{1} << 31;

uint64_t mix(uint64_t x) {  // splitmix64's finalizer: a bijection that spreads every bit
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Where an id's probe starts: all 32 bytes mixed under a key drawn once per process, so the
// ids of an index file (an unencrypted repository's are anyone's bytes) cannot be chosen to
// pile up in one run of slots.
uint64_t slot_hash(const ChunkId& id) {
  static const std::array<uint64_t, 4> key = [] {
    std::random_device device;
    std::array<uint64_t, 4> words;
    for (uint64_t& word : words) word = (uint64_t{device()} << 32) ^ device();
    return words;
  }();
  uint64_t hash = 0;
  for (size_t i = 0; i < 4; ++i) {
    uint64_t word;
    std::memcpy(&word, id.bytes.data() + 8 * i, sizeof(word));
    hash = mix(hash ^ word ^ key[i]);
  }
  return hash;
}

}  // namespace

size_t ChunkIndex::Table::slot_of(const ChunkId& id) const {
  const size_t mask = slots.size() - 1;
  for (size_t slot = slot_hash(id) & mask;; slot = (slot + 1) & mask) {
    const uint32_t at = slots[slot];
    if (at == 0 || entries[at - 1].id == id) return slot;
  }
}

const IndexEntry* ChunkIndex::Table::find(const ChunkId& id) const {
  if (slots.empty()) return nullptr;
  const uint32_t at = slots[slot_of(id)];
  return at ? &entries[at - 1] : nullptr;
}

void ChunkIndex::Table::reserve(size_t count) {
  if (count >= kMaxEntries) throw std::length_error("a chunk index of 2^31 entries or more");
  // Geometrically, so that adding index file after index file copies the entries O(log n)
  // times, not once per file.
  if (count > entries.capacity()) entries.reserve(std::max(count, 2 * entries.capacity()));
  size_t wanted = 16;
  while (wanted < 2 * count) wanted *= 2;
  if (wanted <= slots.size()) return;
  slots.assign(wanted, 0);
  for (size_t i = 0; i < entries.size(); ++i)
    slots[slot_of(entries[i].id)] = static_cast<uint32_t>(i + 1);
}

void ChunkIndex::Table::insert(const IndexEntry& entry) {
  if (2 * (entries.size() + 1) > slots.size()) reserve(std::max<size_t>(16, 2 * entries.size()));
  const size_t slot = slot_of(entry.id);
  if (slots[slot]) return;  // the first location of an id stays
  entries.push_back(entry);
  slots[slot] = static_cast<uint32_t>(entries.size());
}

void ChunkIndex::Table::insert_or_heal(const IndexEntry& entry,
                                       const std::function<bool(const ChunkLocation&)>& damaged) {
  if (2 * (entries.size() + 1) > slots.size()) reserve(std::max<size_t>(16, 2 * entries.size()));
  const size_t slot = slot_of(entry.id);
  if (slots[slot]) {
    IndexEntry& present = entries[slots[slot] - 1];
    if (damaged(present.location) && !damaged(entry.location)) present.location = entry.location;
    return;
  }
  entries.push_back(entry);
  slots[slot] = static_cast<uint32_t>(entries.size());
}

void ChunkIndex::add(std::span<const IndexEntry> entries,
                     const std::function<bool(const ChunkLocation&)>& damaged) {
  ExclusiveLock lock(m_mutex);
  m_table.reserve(m_table.entries.size() + entries.size());
  for (const IndexEntry& entry : entries) m_table.insert_or_heal(entry, damaged);
}

void ChunkIndex::add(const IndexEntry& entry) {
  ExclusiveLock lock(m_mutex);
  m_table.insert(entry);
}

void ChunkIndex::add(std::span<const IndexEntry> entries) {
  ExclusiveLock lock(m_mutex);
  m_table.reserve(m_table.entries.size() + entries.size());
  for (const IndexEntry& entry : entries) m_table.insert(entry);
}

std::optional<ChunkLocation> ChunkIndex::find(const ChunkId& id) const {
  SharedLock lock(m_mutex);
  const IndexEntry* found = m_table.find(id);
  if (!found) return std::nullopt;
  return found->location;
}

bool ChunkIndex::contains_all(std::span<const ChunkId> ids, bool (*exempt)(const ChunkId&)) const {
  SharedLock lock(m_mutex);
  for (const ChunkId& id : ids)
    if (!(exempt && exempt(id)) && !m_table.find(id)) return false;
  return true;
}

void ChunkIndex::clear() {
  ExclusiveLock lock(m_mutex);
  m_table = {};
}

size_t ChunkIndex::size() const {
  SharedLock lock(m_mutex);
  return m_table.entries.size();
}

std::vector<IndexEntry> ChunkIndex::entries() const {
  SharedLock lock(m_mutex);
  return m_table.entries;
}

void ChunkIndex::replace_with(ChunkIndex&& other) {
  // The other's entries are taken out under its lock, then swapped in under this one: never
  // both locks at once, so two indexes replacing each other cannot deadlock.
  Table taken;
  {
    ExclusiveLock other_lock(other.m_mutex);
    std::swap(taken, other.m_table);
  }
  ExclusiveLock lock(m_mutex);
  std::swap(m_table, taken);
}

}  // namespace haven::store
