#pragma once

// One function of a PCI device as the root complex sees it: a configuration space. Devices
// with BARs, MSI-X and interrupts build on this (virtio-pci, issue 4).

#include <string_view>

#include "devices/pci/config_space.h"

namespace haven::devices::pci {

class PciFunction {
 public:
  virtual ~PciFunction() = default;
  virtual std::string_view name() const = 0;
  // Called with the root's lock held: one config access at a time machine-wide.
  virtual void read_config(uint32_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint32_t offset, std::span<const uint8_t> data) = 0;
};

}  // namespace haven::devices::pci
