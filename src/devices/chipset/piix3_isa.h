#pragma once

// The PIIX3 PCI-to-ISA bridge (00:01.0), function 0 of the multi-function device whose
// function 3 is the PIIX4 power management (piix4_pm.h). Firmware needs it for two things:
// OVMF only creates the serial console (and the PS/2 keyboard) below an ISA bridge of class
// 06/01, and both firmwares find function 3 only because this function's header says
// "multi-function". The PIRQ route registers (0x60-0x63) take what firmware writes; Haven
// routes PCI INTx to the IOAPIC (the DSDT's _PRT), so they steer nothing.

#include "devices/pci/pci_device.h"

namespace haven::devices::chipset {

class Piix3Isa final : public pci::PciDevice {
 public:
  static constexpr uint16_t kVendor = 0x8086;
  static constexpr uint16_t kDevice = 0x7000;

  Piix3Isa();
  std::string_view name() const override { return "piix3-isa"; }

 protected:
  void bar_read(int, uint64_t, std::span<uint8_t> data) override;
  void bar_write(int, uint64_t, std::span<const uint8_t>) override {}
};

}  // namespace haven::devices::chipset
