#pragma once

// Integers of 1 to 8 bytes in a byte buffer, big-endian (SCSI, fw_cfg) or little-endian (ACPI,
// x86 structures). A field past the span's end is a bug in the caller, not input to reject
// (callers check lengths first): it aborts rather than read or write out of bounds.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace haven {

inline void check_field(size_t span_size, size_t offset, size_t size) {
  if (size > 8 || offset > span_size || size > span_size - offset) std::abort();
}

inline uint64_t load_be(std::span<const uint8_t> bytes, size_t offset, size_t size) {
  check_field(bytes.size(), offset, size);
  uint64_t value = 0;
  for (size_t i = 0; i < size; ++i) value = value << 8 | bytes[offset + i];
  return value;
}

inline void store_be(std::span<uint8_t> bytes, size_t offset, size_t size, uint64_t value) {
  check_field(bytes.size(), offset, size);
  for (size_t i = size; i-- > 0; value >>= 8) bytes[offset + i] = static_cast<uint8_t>(value);
}

inline uint64_t load_le(std::span<const uint8_t> bytes, size_t offset, size_t size) {
  check_field(bytes.size(), offset, size);
  uint64_t value = 0;
  for (size_t i = size; i-- > 0;) value = value << 8 | bytes[offset + i];
  return value;
}

inline void store_le(std::span<uint8_t> bytes, size_t offset, size_t size, uint64_t value) {
  check_field(bytes.size(), offset, size);
  for (size_t i = 0; i < size; ++i, value >>= 8) bytes[offset + i] = static_cast<uint8_t>(value);
}

}  // namespace haven
