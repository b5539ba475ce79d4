#include "devices/chipset/piix3_isa.h"

#include <algorithm>

#include "devices/chipset/i440fx_host.h"

namespace haven::devices::chipset {

Piix3Isa::Piix3Isa()
    : PciDevice({.vendor = kVendor,
                 .device = kDevice,
                 .revision = 0x00,
                 .class_code = 0x060100,  // bridge, ISA
                 .subsystem_vendor = kQemuSubsystemVendor,
                 .subsystem = kQemuSubsystem}) {
  config().set_u8(pci::kHeaderType, 0x80);  // multi-function: 00:01.3 follows
  make_registers_writable(config(), 0x40);
  // PIRQA-D route control: routing disabled until firmware picks IRQs.
  for (uint8_t pirq = 0x60; pirq <= 0x63; ++pirq) config().set_u8(pirq, 0x80);
}

void Piix3Isa::bar_read(int, uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
}

}  // namespace haven::devices::chipset
