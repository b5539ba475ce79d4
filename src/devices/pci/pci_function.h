#pragma once

// One function of a PCI device as the root complex sees it: a configuration space. Devices
// with BARs, MSI-X and interrupts build on this (PciDevice).

#include <string_view>

#include "base/error.h"
#include "devices/device_state.h"
#include "devices/pci/config_space.h"

namespace haven::devices::pci {

class PciFunction {
 public:
  virtual ~PciFunction() = default;
  virtual std::string_view name() const = 0;
  // Called with the root's lock held: one config access at a time machine-wide.
  virtual void read_config(uint32_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint32_t offset, std::span<const uint8_t> data) = 0;
  // An MMIO access in the PCI window at absolute `address`: handled if one of the function's
  // BARs decodes it. Called from vCPU threads without the root's lock.
  virtual bool mmio_read(uint64_t address, std::span<uint8_t> data) {
    (void)address;
    (void)data;
    return false;
  }
  virtual bool mmio_write(uint64_t address, std::span<const uint8_t> data) {
    (void)address;
    (void)data;
    return false;
  }
  // Snapshots (see BusDevice): called by the root, with no vCPU running.
  virtual DeviceState save_state() { return nullptr; }
  virtual Result<void> restore_state(const DeviceState& state) {
    (void)state;
    return {};
  }
};

}  // namespace haven::devices::pci
