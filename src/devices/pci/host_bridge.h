#pragma once

#include "devices/pci/pci_function.h"

namespace haven::devices::pci {

// The host bridge at 00:00.0: what Linux's type-1 probe looks for on bus 0 (class 06/00) before
// it trusts ports 0xCF8/0xCFC. IDs are Red Hat's for a generic PCIe host bridge (as QEMU's
// gpex uses), so guests bind no chipset-specific driver to it.
class HostBridge final : public PciFunction {
 public:
  static constexpr uint16_t kVendor = 0x1b36;
  static constexpr uint16_t kDevice = 0x0008;

  HostBridge();
  std::string_view name() const override { return "pci-host-bridge"; }
  void read_config(uint32_t offset, std::span<uint8_t> data) override {
    m_config.read(offset, data);
  }
  void write_config(uint32_t offset, std::span<const uint8_t> data) override {
    m_config.write(offset, data);
  }

 private:
  ConfigSpace m_config;
};

}  // namespace haven::devices::pci
