#include "devices/pci/msix.h"

#include <algorithm>
#include <cstring>

#include "base/log.h"

namespace haven::devices::pci {
namespace {

constexpr uint16_t kControlEnable = 1u << 15;
constexpr uint16_t kControlFunctionMask = 1u << 14;
constexpr uint32_t kVectorControlMask = 1u << 0;

// The table as the guest sees it: address low, address high, data, vector control.
uint32_t entry_dword(const MsiMessage& message, bool masked, uint32_t index) {
  switch (index) {
    case 0:
      return static_cast<uint32_t>(message.address);
    case 1:
      return static_cast<uint32_t>(message.address >> 32);
    case 2:
      return message.data;
    default:
      return masked ? kVectorControlMask : 0;
  }
}

}  // namespace

Msix::Msix(uint16_t vector_count, std::unique_ptr<MsiVectors> vectors)
    : m_vectors(std::move(vectors)), m_vector_count(vector_count), m_entries(vector_count) {}

void Msix::install(ConfigSpace& config, uint8_t offset, uint8_t bar, uint32_t table_offset,
                   uint32_t pba_offset) {
  m_offset = offset;
  config.set_u16(static_cast<uint8_t>(offset + 2), static_cast<uint16_t>(vector_count() - 1));
  config.set_writable(static_cast<uint8_t>(offset + 3), 0xc0);  // enable, function mask
  config.set_u32(static_cast<uint8_t>(offset + 4), table_offset | bar);
  config.set_u32(static_cast<uint8_t>(offset + 8), pba_offset | bar);
}

void Msix::control_written(const ConfigSpace& config) {
  uint16_t control = config.u16(static_cast<uint8_t>(m_offset + 2));
  MutexLock lock(m_mutex);
  bool enabled = control & kControlEnable;
  bool masked = control & kControlFunctionMask;
  if (enabled == m_enabled && masked == m_function_masked) return;
  m_enabled = enabled;
  m_function_masked = masked;
  for (uint16_t i = 0; i < vector_count(); ++i) refresh(i);
}

bool Msix::deliverable(const Entry& entry) const {
  return m_enabled && !m_function_masked && !entry.masked;
}

void Msix::refresh(uint16_t vector) {
  Entry& entry = m_entries[vector];
  if (!deliverable(entry)) return;
  if (entry.routed != entry.message) {
    if (auto result = m_vectors->route(vector, entry.message); !result) {
      log::warn("MSI-X vector {}: {}", vector, result.error().message());
      return;
    }
    entry.routed = entry.message;
  }
  if (entry.pending) {
    entry.pending = false;
    m_vectors->trigger(vector);
  }
}

void Msix::table_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  MutexLock lock(m_mutex);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    uint64_t index = at / kEntrySize;
    if (index >= m_entries.size()) continue;
    const Entry& entry = m_entries[index];
    uint32_t dword = entry_dword(entry.message, entry.masked, (at % kEntrySize) / 4);
    data[i] = static_cast<uint8_t>(dword >> (8 * (at % 4)));
  }
}

void Msix::table_write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  MutexLock lock(m_mutex);
  uint64_t first = offset / kEntrySize;
  uint64_t last = (offset + data.size() - 1) / kEntrySize;
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    uint64_t index = at / kEntrySize;
    if (index >= m_entries.size()) continue;
    Entry& entry = m_entries[index];
    uint32_t field = (at % kEntrySize) / 4;
    uint32_t shift = 8 * (at % 4);
    uint32_t dword = entry_dword(entry.message, entry.masked, field);
    dword = (dword & ~(0xffu << shift)) | uint32_t{data[i]} << shift;
    switch (field) {
      case 0:
        entry.message.address = (entry.message.address & ~uint64_t{0xffffffff}) | dword;
        break;
      case 1:
        entry.message.address = (entry.message.address & 0xffffffff) | uint64_t{dword} << 32;
        break;
      case 2:
        entry.message.data = dword;
        break;
      default:
        entry.masked = dword & kVectorControlMask;
        break;
    }
  }
  for (uint64_t index = first; index <= last && index < m_entries.size(); ++index)
    refresh(static_cast<uint16_t>(index));
}

void Msix::pba_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  MutexLock lock(m_mutex);
  for (size_t i = 0; i < data.size(); ++i) {
    for (uint32_t bit = 0; bit < 8; ++bit) {
      uint64_t vector = (offset + i) * 8 + bit;
      if (vector < m_entries.size() && m_entries[vector].pending)
        data[i] |= static_cast<uint8_t>(1u << bit);
    }
  }
}

DeviceState Msix::save_state() const {
  MutexLock lock(m_mutex);
  DeviceState entries = DeviceState::array();
  for (const Entry& entry : m_entries)
    entries.push_back({{"address", entry.message.address},
                       {"data", entry.message.data},
                       {"masked", entry.masked},
                       {"pending", entry.pending}});
  return {{"enabled", m_enabled}, {"function_masked", m_function_masked}, {"entries", entries}};
}

Result<void> Msix::restore_state(const DeviceState& state) {
  MutexLock lock(m_mutex);
  m_enabled = TRY(state_field<bool>(state, "enabled"));
  m_function_masked = TRY(state_field<bool>(state, "function_masked"));
  if (!state.contains("entries") || !state["entries"].is_array() ||
      state["entries"].size() != m_entries.size())
    return make_error("MSI-X state: expected {} entries", m_entries.size());
  for (size_t i = 0; i < m_entries.size(); ++i) {
    const DeviceState& saved = state["entries"][i];
    Entry& entry = m_entries[i];
    entry.message.address = TRY(state_field<uint64_t>(saved, "address"));
    entry.message.data = TRY(state_field<uint32_t>(saved, "data"));
    entry.masked = TRY(state_field<bool>(saved, "masked"));
    entry.pending = TRY(state_field<bool>(saved, "pending"));
    entry.routed.reset();
  }
  for (uint16_t i = 0; i < vector_count(); ++i) refresh(i);
  return {};
}

bool Msix::enabled() const {
  MutexLock lock(m_mutex);
  return m_enabled;
}

bool Msix::signal(uint16_t vector) {
  MutexLock lock(m_mutex);
  if (!m_enabled || vector >= m_entries.size()) return false;
  Entry& entry = m_entries[vector];
  if (!deliverable(entry) || !entry.routed) {
    entry.pending = true;
    return true;
  }
  m_vectors->trigger(vector);
  return true;
}

}  // namespace haven::devices::pci
