#pragma once

// Changed-block tracking: one bit per `granularity` bytes of a disk, set by every write,
// write-zeroes and discard, so an incremental backup reads only what changed since the last
// one. Marking is lock-free (the device's I/O thread), reading and taking happen from others.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace haven::block {

class DirtyBitmap {
 public:
  static constexpr uint32_t kDefaultGranularity = 64 * 1024;  // the repositories' default chunk

  // `granularity` is a power of two of at least 4 KiB.
  DirtyBitmap(uint64_t disk_bytes, uint32_t granularity = kDefaultGranularity);

  uint64_t disk_bytes() const { return m_disk_bytes; }
  uint32_t granularity() const { return m_granularity; }
  uint64_t block_count() const { return m_blocks; }

  // Marks every block [offset, offset + length) touches; the part past the disk's end is
  // ignored.
  void mark(uint64_t offset, uint64_t length);
  void mark_all();
  bool is_dirty(uint64_t block) const;
  // Whether any block that [offset, offset + length) touches is dirty.
  bool any_dirty(uint64_t offset, uint64_t length) const;
  uint64_t dirty_count() const;

  // The bits as 64-bit words (block i is bit i % 64 of word i / 64), and back.
  std::vector<uint64_t> words() const;
  // ORs `words` in (a failed backup gives back what it took); false on a size mismatch.
  bool merge(std::span<const uint64_t> words);
  // Returns the bits and clears them, atomically per word: a write racing with it lands
  // either in what is returned or in what stays.
  std::vector<uint64_t> take();
  void clear();

 private:
  uint64_t m_disk_bytes;
  uint32_t m_granularity;
  uint32_t m_shift;
  uint64_t m_blocks;
  std::unique_ptr<std::atomic<uint64_t>[]> m_words;
  size_t m_word_count;
};

}  // namespace haven::block
