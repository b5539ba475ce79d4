#pragma once

// Internal to src/firmware: the medium as the parsers see it, and little-endian fields.

#include <cstdint>
#include <cstdlib>
#include <span>
#include <type_traits>

#include "firmware/boot_media.h"

namespace haven::firmware {

// A medium of `size` bytes behind a ReadAt. Offsets and lengths read from the medium are
// hostile: parsers ask contains() before they use one, and read() refuses a range past the end
// itself, so a parser's mistake becomes an error, never a read out of range.
class Medium {
 public:
  Medium(const ReadAt& read, uint64_t size) : m_read(read), m_size(size) {}

  uint64_t size() const { return m_size; }
  // [offset, offset + length) lies inside the medium (overflow-safe).
  bool contains(uint64_t offset, uint64_t length) const {
    return offset <= m_size && length <= m_size - offset;
  }
  Result<void> read(uint64_t offset, std::span<uint8_t> out) const {
    if (!contains(offset, out.size()))
      return make_error("read of {} bytes at {} is past the end of the {}-byte medium", out.size(),
                        offset, m_size);
    return m_read(offset, out);
  }

 private:
  const ReadAt& m_read;
  uint64_t m_size;
};

// A little-endian field at a fixed offset of a buffer the caller sized for it; an offset past
// the buffer is a bug in the parser (not hostile data), so it aborts.
template <class T>
T load_le(std::span<const uint8_t> bytes, size_t offset) {
  static_assert(std::is_unsigned_v<T> && sizeof(T) >= 2);
  if (offset > bytes.size() || sizeof(T) > bytes.size() - offset) std::abort();
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    value |= static_cast<T>(static_cast<T>(bytes[offset + i]) << (8 * i));
  return value;
}

}  // namespace haven::firmware
