#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace haven::arch::x86 {

// Builds little-endian firmware tables (MP, ACPI) field by field.
class ByteWriter {
 public:
  size_t size() const { return m_bytes.size(); }
  const std::vector<uint8_t>& bytes() const { return m_bytes; }
  std::vector<uint8_t> take() { return std::move(m_bytes); }

  void u8(uint8_t value) { m_bytes.push_back(value); }
  void u16(uint16_t value) { put(value); }
  void u32(uint32_t value) { put(value); }
  void u64(uint64_t value) { put(value); }
  // Exactly `width` bytes of `text`, padded with `pad`.
  void text(std::string_view text, size_t width, char pad = ' ') {
    for (size_t i = 0; i < width; ++i) u8(static_cast<uint8_t>(i < text.size() ? text[i] : pad));
  }
  void append(std::span<const uint8_t> bytes) {
    m_bytes.insert(m_bytes.end(), bytes.begin(), bytes.end());
  }
  void zeros(size_t count) { m_bytes.insert(m_bytes.end(), count, 0); }

  void patch_u8(size_t offset, uint8_t value) { m_bytes.at(offset) = value; }
  void patch_u16(size_t offset, uint16_t value) { patch(offset, value); }
  void patch_u32(size_t offset, uint32_t value) { patch(offset, value); }

 private:
  template <class T>
  void put(T value) {
    uint8_t raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    m_bytes.insert(m_bytes.end(), raw, raw + sizeof(T));
  }
  template <class T>
  void patch(size_t offset, T value) {
    if (offset + sizeof(T) > m_bytes.size()) m_bytes.at(offset + sizeof(T) - 1);  // throws
    std::memcpy(m_bytes.data() + offset, &value, sizeof(T));
  }

  std::vector<uint8_t> m_bytes;
};

// The byte that makes `bytes` sum to zero modulo 256, as MP and ACPI tables require.
inline uint8_t checksum_byte(std::span<const uint8_t> bytes) {
  uint8_t sum = 0;
  for (uint8_t b : bytes) sum = static_cast<uint8_t>(sum + b);
  return static_cast<uint8_t>(-sum);
}

}  // namespace haven::arch::x86
