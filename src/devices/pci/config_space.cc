#include "devices/pci/config_space.h"

namespace haven::devices::pci {

ConfigSpace::ConfigSpace() {
  // Command: I/O space, memory space, bus master, INTx disable are the guest's to set.
  m_writable[kCommand] = 0x07;
  m_writable[kCommand + 1] = 0x04;
  m_writable[kInterruptLine] = 0xff;  // firmware/OS scratch: the IRQ it routed
}

void ConfigSpace::read(uint32_t offset, std::span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = uint64_t{offset} + i;
    data[i] = at < kSize ? m_bytes[at] : 0xff;
  }
}

void ConfigSpace::write(uint32_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = uint64_t{offset} + i;
    if (at >= kSize) return;
    m_bytes[at] =
        static_cast<uint8_t>((m_bytes[at] & ~m_writable[at]) | (data[i] & m_writable[at]));
  }
}

void ConfigSpace::set_u16(uint8_t offset, uint16_t value) {
  set_u8(offset, static_cast<uint8_t>(value));
  set_u8(static_cast<uint8_t>(offset + 1), static_cast<uint8_t>(value >> 8));
}

void ConfigSpace::set_u32(uint8_t offset, uint32_t value) {
  set_u16(offset, static_cast<uint16_t>(value));
  set_u16(static_cast<uint8_t>(offset + 2), static_cast<uint16_t>(value >> 16));
}

uint16_t ConfigSpace::u16(uint8_t offset) const {
  return static_cast<uint16_t>(m_bytes[offset] | m_bytes[static_cast<uint8_t>(offset + 1)] << 8);
}

uint32_t ConfigSpace::u32(uint8_t offset) const {
  return u16(offset) | uint32_t{u16(static_cast<uint8_t>(offset + 2))} << 16;
}

}  // namespace haven::devices::pci
