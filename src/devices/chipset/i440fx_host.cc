#include "devices/chipset/i440fx_host.h"

#include <algorithm>

namespace haven::devices::chipset {

void make_registers_writable(pci::ConfigSpace& config, uint8_t first) {
  for (unsigned offset = first; offset < pci::ConfigSpace::kSize; ++offset)
    config.set_writable(static_cast<uint8_t>(offset), 0xff);
}

I440fxHost::I440fxHost()
    : PciDevice({.vendor = kVendor,
                 .device = kDevice,
                 .revision = 0x02,
                 .class_code = 0x060000,  // bridge, host
                 .subsystem_vendor = kQemuSubsystemVendor,
                 .subsystem = kQemuSubsystem}) {
  make_registers_writable(config(), 0x40);
  // SMRAM control: closed, SMM space at 0xa0000 disabled (the reset value, as QEMU's).
  config().set_u8(0x72, 0x02);
}

void I440fxHost::bar_read(int, uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
}

}  // namespace haven::devices::chipset
