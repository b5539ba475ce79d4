#include "devices/pci/pci_root.h"

#include <algorithm>
#include <cstring>

namespace haven::devices::pci {
namespace {

constexpr uint32_t kEnable = 1u << 31;
constexpr uint64_t kDataOffset = 4;          // 0xCFC
constexpr uint64_t kResetControlOffset = 1;  // 0xCF9
constexpr uint8_t kResetCpu = 0x04;
constexpr uint8_t kResetControlWritable = 0x0e;  // full reset, reset CPU, system reset

}  // namespace

namespace {

// The text a slot goes by in errors and snapshots: "3" for function 0 (as snapshots always
// named slots), "1.3" for another function.
std::string slot_key(uint32_t index) {
  uint32_t device = index / PciRoot::kFunctionsPerDevice;
  uint32_t fn = index % PciRoot::kFunctionsPerDevice;
  return fn == 0 ? std::to_string(device) : fmt::format("{}.{}", device, fn);
}

std::string slot_name(uint32_t index) {
  return fmt::format("00:{:02x}.{}", index / PciRoot::kFunctionsPerDevice,
                     index % PciRoot::kFunctionsPerDevice);
}

}  // namespace

Result<void> PciRoot::add(uint32_t device, uint32_t fn, std::shared_ptr<PciFunction> function) {
  MutexLock lock(m_mutex);
  if (device >= kDevicesPerBus) return make_error("PCI device number {} is not 0..31", device);
  if (fn >= kFunctionsPerDevice) return make_error("PCI function number {} is not 0..7", fn);
  uint32_t index = device * kFunctionsPerDevice + fn;
  if (m_functions[index])
    return make_error("PCI slot {} already holds {}", slot_name(index), m_functions[index]->name());
  m_functions[index] = std::move(function);
  return {};
}

PciFunction* PciRoot::selected(uint32_t& register_offset) {
  if (!(m_address & kEnable)) return nullptr;
  uint32_t bus = (m_address >> 16) & 0xff;
  uint32_t device = (m_address >> 11) & 0x1f;
  uint32_t function = (m_address >> 8) & 0x7;
  register_offset = m_address & 0xfc;
  if (bus != 0) return nullptr;
  return m_functions[device * kFunctionsPerDevice + function].get();
}

void PciRoot::read(uint64_t offset, std::span<uint8_t> data) {
  MutexLock lock(m_mutex);
  std::fill(data.begin(), data.end(), 0xff);
  if (offset == 0 && data.size() == 4) {
    std::memcpy(data.data(), &m_address, 4);
  } else if (offset == kResetControlOffset && data.size() == 1) {
    data[0] = m_reset_control;
  } else if (offset >= kDataOffset) {
    uint32_t register_offset = 0;
    if (PciFunction* function = selected(register_offset))
      function->read_config(register_offset + static_cast<uint32_t>(offset - kDataOffset), data);
  }
}

void PciRoot::write(uint64_t offset, std::span<const uint8_t> data) {
  bool reset = false;
  {
    MutexLock lock(m_mutex);
    if (offset == 0 && data.size() == 4) {
      // Only dword accesses reach the address register; bits 1:0 and 30:24 are reserved.
      uint32_t value;
      std::memcpy(&value, data.data(), 4);
      m_address = value & 0x80fffffc;
    } else if (offset == kResetControlOffset && data.size() == 1) {
      reset = data[0] & kResetCpu;
      m_reset_control = data[0] & kResetControlWritable;
    } else if (offset >= kDataOffset) {
      uint32_t register_offset = 0;
      if (PciFunction* function = selected(register_offset))
        function->write_config(register_offset + static_cast<uint32_t>(offset - kDataOffset), data);
    }
  }
  if (reset) m_on_request(GuestRequest::reset);
}

bool PciRoot::mmio_read(uint64_t address, std::span<uint8_t> data) {
  for (const auto& function : m_functions)
    if (function && function->mmio_read(address, data)) return true;
  return false;
}

bool PciRoot::mmio_write(uint64_t address, std::span<const uint8_t> data) {
  for (const auto& function : m_functions)
    if (function && function->mmio_write(address, data)) return true;
  return false;
}

void PciMmioWindow::read(uint64_t offset, std::span<uint8_t> data) {
  if (!m_root->mmio_read(m_base + offset, data)) std::fill(data.begin(), data.end(), 0xff);
}

void PciMmioWindow::write(uint64_t offset, std::span<const uint8_t> data) {
  m_root->mmio_write(m_base + offset, data);
}

DeviceState PciRoot::save_state() {
  DeviceState functions = DeviceState::object();
  for (uint32_t index = 0; index < m_functions.size(); ++index)
    if (m_functions[index]) {
      DeviceState state = m_functions[index]->save_state();
      if (!state.is_null()) functions[slot_key(index)] = std::move(state);
    }
  MutexLock lock(m_mutex);
  return {{"address", m_address}, {"reset_control", m_reset_control}, {"functions", functions}};
}

Result<void> PciRoot::restore_state(const DeviceState& state) {
  {
    MutexLock lock(m_mutex);
    m_address = TRY(state_field<uint32_t>(state, "address"));
    m_reset_control = TRY(state_field<uint8_t>(state, "reset_control"));
  }
  if (!state.contains("functions") || !state["functions"].is_object())
    return make_error("PCI state has no 'functions'");
  const DeviceState& functions = state["functions"];
  // A key naming no function of this bus at all (a slot past 31, a function past 7, junk)
  // is a snapshot of another machine: refuse it rather than drop its state.
  for (const auto& [key, value] : functions.items()) {
    bool known = false;
    for (uint32_t index = 0; index < m_functions.size() && !known; ++index)
      known = slot_key(index) == key;
    if (!known) return make_error("PCI state names an unknown function '{}'", key);
  }
  for (uint32_t index = 0; index < m_functions.size(); ++index) {
    std::string key = slot_key(index);
    bool saved = functions.contains(key);
    if (!m_functions[index]) {
      if (saved)
        return make_error("the snapshot has a PCI function at {} and this VM has none",
                          slot_name(index));
      continue;
    }
    if (!saved) continue;  // a function without state
    TRY(with_context(m_functions[index]->restore_state(functions[key]), "PCI {} ({})",
                     slot_name(index), m_functions[index]->name()));
  }
  return {};
}

}  // namespace haven::devices::pci
