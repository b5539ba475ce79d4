#include "devices/pci/pci_device.h"

#include <cassert>

namespace haven::devices::pci {

PciDevice::PciDevice(const PciIdentity& identity) {
  m_config.set_u16(kVendorId, identity.vendor);
  m_config.set_u16(kDeviceId, identity.device);
  m_config.set_u8(kRevisionId, identity.revision);
  m_config.set_u8(kClassCode, static_cast<uint8_t>(identity.class_code));
  m_config.set_u16(kClassCode + 1, static_cast<uint16_t>(identity.class_code >> 8));
  m_config.set_u16(kSubsystemVendorId, identity.subsystem_vendor);
  m_config.set_u16(kSubsystemId, identity.subsystem);
  for (auto& decoded : m_decoded) decoded.store(kNotDecoding);
}

void PciDevice::read_config(uint32_t offset, std::span<uint8_t> data) {
  m_config.read(offset, data);
}

void PciDevice::write_config(uint32_t offset, std::span<const uint8_t> data) {
  m_config.write(offset, data);
  uint64_t end = uint64_t{offset} + data.size();
  bool touches_bars = offset < kBar0 + 4 * kBarCount && end > kBar0;
  bool touches_command = offset < kCommand + 2 && end > kCommand;
  if (touches_bars || touches_command) update_decoding();
  config_written(offset, static_cast<uint32_t>(data.size()));
}

void PciDevice::add_memory_bar64(int index, uint64_t size) {
  assert(index >= 0 && index + 1 < kBarCount && size >= 4096 && (size & (size - 1)) == 0);
  m_bars[index] = {size, true};
  auto reg = static_cast<uint8_t>(kBar0 + 4 * index);
  // Memory BAR, 64-bit type (bits 2:1 = 10b), not prefetchable.
  m_config.set_u32(reg, 0x4);
  uint64_t mask = ~(size - 1);
  for (int i = 0; i < 8; ++i) {
    uint8_t writable = static_cast<uint8_t>(mask >> (8 * i));
    if (i == 0) writable &= 0xf0;  // the type bits are read-only
    m_config.set_writable(static_cast<uint8_t>(reg + i), writable);
  }
}

void PciDevice::place_bar(int index, uint64_t address) {
  auto reg = static_cast<uint8_t>(kBar0 + 4 * index);
  m_config.set_u32(reg, static_cast<uint32_t>(address) | 0x4);
  m_config.set_u32(static_cast<uint8_t>(reg + 4), static_cast<uint32_t>(address >> 32));
  update_decoding();
}

uint64_t PciDevice::programmed_address(int index) const {
  auto reg = static_cast<uint8_t>(kBar0 + 4 * index);
  uint64_t low = m_config.u32(reg) & ~uint32_t{0xf};
  uint64_t high = m_bars[index].is_64bit ? m_config.u32(static_cast<uint8_t>(reg + 4)) : 0;
  return high << 32 | low;
}

void PciDevice::update_decoding() {
  m_command.store(m_config.u16(kCommand), std::memory_order_relaxed);
  bool memory = m_config.u16(kCommand) & kCommandMemorySpace;
  bool changed = false;
  for (int i = 0; i < kBarCount; ++i) {
    uint64_t base = kNotDecoding;
    // A BAR being sized reads back all ones in its address bits; it decodes nothing then.
    if (memory && m_bars[i].size) {
      uint64_t address = programmed_address(i);
      if (address != 0 && address + m_bars[i].size > address) base = address;
    }
    if (m_decoded[i].exchange(base) != base) changed = true;
  }
  if (changed) bars_changed();
}

std::optional<uint64_t> PciDevice::bar_address(int index) const {
  uint64_t base = m_decoded[index].load(std::memory_order_acquire);
  if (base == kNotDecoding) return std::nullopt;
  return base;
}

bool PciDevice::mmio_read(uint64_t address, std::span<uint8_t> data) {
  for (int i = 0; i < kBarCount; ++i) {
    uint64_t base = m_decoded[i].load(std::memory_order_acquire);
    if (base == kNotDecoding || address < base || address - base >= m_bars[i].size) continue;
    uint64_t offset = address - base;
    if (data.size() > m_bars[i].size - offset) return false;
    bar_read(i, offset, data);
    return true;
  }
  return false;
}

bool PciDevice::mmio_write(uint64_t address, std::span<const uint8_t> data) {
  for (int i = 0; i < kBarCount; ++i) {
    uint64_t base = m_decoded[i].load(std::memory_order_acquire);
    if (base == kNotDecoding || address < base || address - base >= m_bars[i].size) continue;
    uint64_t offset = address - base;
    if (data.size() > m_bars[i].size - offset) return false;
    bar_write(i, offset, data);
    return true;
  }
  return false;
}

DeviceState PciDevice::save_state() {
  return {{"config", state_bytes(m_config.bytes())}};
}

Result<void> PciDevice::restore_state(const DeviceState& state) {
  std::array<uint8_t, ConfigSpace::kSize> bytes{};
  TRY(state_bytes_into(state, "config", bytes));
  // Vendor, device, revision and class: the snapshot must be of this very kind of device.
  for (uint8_t offset : {kVendorId, kDeviceId, kRevisionId, kClassCode}) {
    uint8_t length = offset == kClassCode ? 3 : offset == kRevisionId ? 1 : 2;
    for (uint8_t i = 0; i < length; ++i)
      if (bytes[offset + i] != m_config.u8(static_cast<uint8_t>(offset + i)))
        return make_error("the snapshot's PCI function {:04x}:{:04x} is not this {:04x}:{:04x}",
                          bytes[0] | bytes[1] << 8, bytes[2] | bytes[3] << 8,
                          m_config.u16(kVendorId), m_config.u16(kDeviceId));
  }
  m_config.load(bytes);
  update_decoding();
  return {};
}

uint8_t PciDevice::add_capability(uint8_t id, uint8_t length) {
  uint8_t offset = m_next_capability_offset;
  assert(length >= 2 && offset + length <= ConfigSpace::kSize);
  m_config.set_u8(offset, id);
  m_config.set_u8(static_cast<uint8_t>(offset + 1), 0);
  if (m_last_capability == 0) {
    m_config.set_u8(kCapabilitiesPointer, offset);
    m_config.set_u16(kStatus, m_config.u16(kStatus) | kStatusCapabilitiesList);
  } else {
    m_config.set_u8(static_cast<uint8_t>(m_last_capability + 1), offset);
  }
  m_last_capability = offset;
  // Capabilities start on dword boundaries.
  m_next_capability_offset = static_cast<uint8_t>((offset + length + 3) & ~3);
  return offset;
}

}  // namespace haven::devices::pci
