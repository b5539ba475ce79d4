#pragma once

// The PIIX4 power management function (00:01.3), as QEMU's `pc` machine has it, reduced to what
// guest firmware and a PC guest's ACPI use (see docs/ARCHITECTURE.md, "Firmware"):
//   - PMBA (config 0x40) and PMREGMISC bit 0 (config 0x80) place and enable the PM I/O block;
//     Haven follows wherever firmware puts it (SeaBIOS 0x600, OVMF 0xb000), and the ACPI
//     tables it hands firmware are made when firmware reads them, with that address:
//       +0 PM1a_STS / +2 PM1a_EN: the fixed power button (PWRBTN_STS, bit 8) -- `haven vm stop`
//          presses it -- and the SCI (IRQ 9, level) while a status bit is set and enabled;
//       +4 PM1a_CNT: SCI_EN reads 1 (always in ACPI mode: there is no SMM to switch), and
//          SLP_EN with SLP_TYP 0 is soft-off (S5), as QEMU's and OVMF's ResetSystem expect;
//       +8 PM_TMR: the ACPI PM timer, 24 bits at 3.579545 MHz from the host's monotonic clock;
//          both firmwares time every delay with it and hang if it stands still.
//     No GPE block, no SMBus, no sleep states besides soft-off.
//   - Config byte 0x5b bit 1 ("APM control enabled") is wired to 1, which tells SeaBIOS that SMM
//     is already set up: without it SeaBIOS raises an SMI and spins until a handler answers,
//     and Haven has no SMM.
// The block decodes whatever the command register says: OVMF's PCI enumeration clears every
// function's command register, and its timer must keep running.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "devices/bus.h"
#include "devices/guest_request.h"
#include "devices/pci/pci_device.h"

namespace haven::devices::chipset {

class Piix4Pm final : public pci::PciDevice {
 public:
  static constexpr uint16_t kVendor = 0x8086;
  static constexpr uint16_t kDevice = 0x7113;
  static constexpr uint8_t kPmBase = 0x40;     // PMBA
  static constexpr uint8_t kPmRegMisc = 0x80;  // PMREGMISC, bit 0: PM I/O space enabled
  static constexpr uint16_t kBlockSize = 64;
  static constexpr uint16_t kStatusOffset = 0;       // PM1a_STS
  static constexpr uint16_t kEnableOffset = 2;       // PM1a_EN
  static constexpr uint16_t kControlOffset = 4;      // PM1a_CNT
  static constexpr uint16_t kTimerOffset = 8;        // PM_TMR
  static constexpr uint16_t kPowerButton = 1u << 8;  // PM1 status and enable bit
  static constexpr uint64_t kTimerHz = 3579545;
  static constexpr uint8_t kSciIrq = 9;
  // Nanoseconds of a monotonic clock.
  using Clock = std::function<uint64_t()>;

  // `pio` is where the register block appears once firmware enables it; it must outlive this
  // function. `sci` drives the SCI line (IRQ 9).
  Piix4Pm(Bus& pio, GuestRequestHandler on_request, IrqLine sci, Clock clock = {});

  std::string_view name() const override { return "piix4-pm"; }
  // Where the block decodes now, if it does.
  std::optional<uint16_t> io_base() const;
  // The PM base firmware programmed (PMBA), enabled or not.
  uint16_t programmed_base() const;
  // The fixed power button: sets PWRBTN_STS (an SCI if the guest enabled it).
  void press_power_button();
  Result<void> restore_state(const DeviceState& state) override;
  DeviceState save_state() override;

 protected:
  void bar_read(int, uint64_t, std::span<uint8_t> data) override;
  void bar_write(int, uint64_t, std::span<const uint8_t>) override {}
  void config_written(uint32_t offset, uint32_t length) override;

 private:
  class Registers;
  // Puts the registers where PMBA and PMREGMISC say (or takes them away).
  void remap();

  Bus& m_pio;
  std::shared_ptr<Registers> m_registers;
  std::optional<uint16_t> m_mapped;       // under the PCI root's lock
  bool m_warned = false;                  // a bad base is logged once, not per write
  std::atomic<uint16_t> m_programmed{0};  // PMBA's base, for any thread
};

}  // namespace haven::devices::chipset
