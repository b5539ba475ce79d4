#pragma once

// The host bridge of a PC with firmware (00:00.0): an Intel 440FX PMC, as QEMU's `pc` machine
// presents it. Guest firmware recognises the platform by it: SeaBIOS by the subsystem IDs
// (1af4:1100, "a QEMU virtual machine"), OVMF by the device ID 0x1237, without which it never
// programs its timer and hangs at the first delay (see docs/ARCHITECTURE.md, "Firmware").
//
// The PAM registers (0x59-0x5f) that route 0xc0000-0xfffff to ROM or RAM are plain storage:
// Haven keeps that area RAM, loaded with the BIOS image at power-on, so SeaBIOS's "make the
// BIOS writable, copy itself down, write-protect" dance finds nothing to do. Everything in
// 0x40-0xff is writable, as on QEMU's.

#include "devices/pci/pci_device.h"

namespace haven::devices::chipset {

class I440fxHost final : public pci::PciDevice {
 public:
  static constexpr uint16_t kVendor = 0x8086;
  static constexpr uint16_t kDevice = 0x1237;

  I440fxHost();
  std::string_view name() const override { return "i440fx-host"; }

 protected:
  void bar_read(int, uint64_t, std::span<uint8_t> data) override;
  void bar_write(int, uint64_t, std::span<const uint8_t>) override {}
};

// The subsystem both chipset functions carry: Red Hat's "QEMU virtual machine", which SeaBIOS
// checks for before it trusts fw_cfg, shadowing and its other QEMU paths.
inline constexpr uint16_t kQemuSubsystemVendor = 0x1af4;
inline constexpr uint16_t kQemuSubsystem = 0x1100;

// Makes configuration bytes [first, 0xff] writable (the chipset registers).
void make_registers_writable(pci::ConfigSpace& config, uint8_t first);

}  // namespace haven::devices::chipset
