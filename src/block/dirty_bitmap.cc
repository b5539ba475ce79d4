#include "block/dirty_bitmap.h"

#include <bit>
#include <cassert>

namespace haven::block {

DirtyBitmap::DirtyBitmap(uint64_t disk_bytes, uint32_t granularity)
    : m_disk_bytes(disk_bytes),
      m_granularity(granularity),
      m_shift(static_cast<uint32_t>(std::countr_zero(granularity))),
      m_blocks((disk_bytes + granularity - 1) / granularity),
      m_word_count((m_blocks + 63) / 64) {
  assert(granularity >= 4096 && std::has_single_bit(granularity));
  m_words = std::make_unique<std::atomic<uint64_t>[]>(m_word_count);
  for (size_t i = 0; i < m_word_count; ++i) m_words[i].store(0, std::memory_order_relaxed);
}

void DirtyBitmap::mark(uint64_t offset, uint64_t length) {
  if (length == 0 || offset >= m_disk_bytes) return;
  uint64_t end = length > m_disk_bytes - offset ? m_disk_bytes : offset + length;
  uint64_t first = offset >> m_shift, last = (end - 1) >> m_shift;
  for (uint64_t block = first; block <= last;) {
    uint64_t word = block / 64;
    uint64_t bit = block % 64;
    uint64_t bits = std::min<uint64_t>(64 - bit, last - block + 1);
    uint64_t mask = (bits == 64 ? ~uint64_t{0} : ((uint64_t{1} << bits) - 1)) << bit;
    m_words[word].fetch_or(mask, std::memory_order_relaxed);
    block += bits;
  }
}

void DirtyBitmap::mark_all() {
  mark(0, m_disk_bytes);
}

bool DirtyBitmap::is_dirty(uint64_t block) const {
  if (block >= m_blocks) return false;
  return m_words[block / 64].load(std::memory_order_relaxed) >> (block % 64) & 1;
}

bool DirtyBitmap::any_dirty(uint64_t offset, uint64_t length) const {
  if (length == 0 || offset >= m_disk_bytes) return false;
  uint64_t end = length > m_disk_bytes - offset ? m_disk_bytes : offset + length;
  for (uint64_t block = offset >> m_shift; block <= (end - 1) >> m_shift; ++block)
    if (is_dirty(block)) return true;
  return false;
}

uint64_t DirtyBitmap::dirty_count() const {
  uint64_t count = 0;
  for (size_t i = 0; i < m_word_count; ++i)
    count += static_cast<uint64_t>(std::popcount(m_words[i].load(std::memory_order_relaxed)));
  return count;
}

std::vector<uint64_t> DirtyBitmap::words() const {
  std::vector<uint64_t> out(m_word_count);
  for (size_t i = 0; i < m_word_count; ++i) out[i] = m_words[i].load(std::memory_order_relaxed);
  return out;
}

bool DirtyBitmap::merge(std::span<const uint64_t> words) {
  if (words.size() != m_word_count) return false;
  // Bits past the last block are never set: a merged word keeps that true.
  uint64_t tail_bits = m_blocks % 64;
  for (size_t i = 0; i < m_word_count; ++i) {
    uint64_t word = words[i];
    if (i + 1 == m_word_count && tail_bits) word &= (uint64_t{1} << tail_bits) - 1;
    m_words[i].fetch_or(word, std::memory_order_relaxed);
  }
  return true;
}

std::vector<uint64_t> DirtyBitmap::take() {
  std::vector<uint64_t> out(m_word_count);
  for (size_t i = 0; i < m_word_count; ++i)
    out[i] = m_words[i].exchange(0, std::memory_order_acq_rel);
  return out;
}

void DirtyBitmap::clear() {
  for (size_t i = 0; i < m_word_count; ++i) m_words[i].store(0, std::memory_order_relaxed);
}

}  // namespace haven::block
