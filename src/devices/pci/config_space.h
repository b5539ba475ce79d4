#pragma once

// The 256-byte PCI configuration space of one function (PCI Local Bus 3.0, chapter 6), with a
// per-byte mask of what the guest may change: everything else is read-only, as hardware makes
// it. Not thread-safe by itself; its owner serializes access.

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

namespace haven::devices::pci {

// Standard header offsets (type 0 header).
inline constexpr uint8_t kVendorId = 0x00;
inline constexpr uint8_t kDeviceId = 0x02;
inline constexpr uint8_t kCommand = 0x04;
inline constexpr uint8_t kStatus = 0x06;
inline constexpr uint8_t kRevisionId = 0x08;
inline constexpr uint8_t kClassCode = 0x09;  // programming interface, subclass, class
inline constexpr uint8_t kHeaderType = 0x0e;
inline constexpr uint8_t kSubsystemVendorId = 0x2c;
inline constexpr uint8_t kSubsystemId = 0x2e;
inline constexpr uint8_t kInterruptLine = 0x3c;
inline constexpr uint8_t kInterruptPin = 0x3d;

class ConfigSpace {
 public:
  static constexpr size_t kSize = 256;

  ConfigSpace();

  // Guest accesses: any offset and 1, 2 or 4 bytes; bytes past the end read as ones and ignore
  // writes, as an absent register would.
  void read(uint32_t offset, std::span<uint8_t> data) const;
  void write(uint32_t offset, std::span<const uint8_t> data);

  // Device-side set-up: values the guest reads, and which bits it may write.
  void set_u8(uint8_t offset, uint8_t value) { m_bytes[offset] = value; }
  void set_u16(uint8_t offset, uint16_t value);
  void set_u32(uint8_t offset, uint32_t value);
  void set_writable(uint8_t offset, uint8_t mask) { m_writable[offset] = mask; }
  uint8_t u8(uint8_t offset) const { return m_bytes[offset]; }
  uint16_t u16(uint8_t offset) const;
  uint32_t u32(uint8_t offset) const;
  // The whole space, for snapshots; load() puts back what bytes() gave (the masks stay).
  std::span<const uint8_t, kSize> bytes() const { return m_bytes; }
  void load(std::span<const uint8_t, kSize> bytes) {
    std::copy(bytes.begin(), bytes.end(), m_bytes.begin());
  }

 private:
  std::array<uint8_t, kSize> m_bytes{};
  std::array<uint8_t, kSize> m_writable{};
};

}  // namespace haven::devices::pci
