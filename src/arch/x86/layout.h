#pragma once

// Where Haven puts things in a guest's physical address space (x86).
//
//   0x000500  GDT                      0x009000  PML4, then PDPT, then 4 page directories
//   0x000520  IDT (empty)              0x020000  kernel command line
//   0x006000  PVH start info + tables  0x09fc00  MP table (top of base memory, as BIOSes do)
//   0x007000  zero page (boot_params)  0x0e0000  ACPI tables, RSDP first
//   0x008ff0  boot stack top           0x0ffff0  reset vector stub (see reset_vector.h)
//                                      0x100000  kernel (bzImage protected-mode part)
//   RAM below 4 GiB ends where the 1 GiB PCI hole begins (3 GiB); the rest lives above 4 GiB.

#include <cstdint>

#include "base/units.h"

namespace haven::arch::x86 {

inline constexpr uint64_t kGdtAddress = 0x500;
inline constexpr uint64_t kIdtAddress = 0x520;
inline constexpr uint64_t kPvhStartInfoAddress = 0x6000;
inline constexpr uint64_t kPvhStartInfoEnd = 0x7000;
inline constexpr uint64_t kZeroPageAddress = 0x7000;
inline constexpr uint64_t kBootStackPointer = 0x8ff0;
inline constexpr uint64_t kPageTablesAddress = 0x9000;
inline constexpr uint64_t kCmdlineAddress = 0x20000;
inline constexpr uint64_t kCmdlineMaxSize = 0x10000;
inline constexpr uint64_t kEbdaAddress = 0x9fc00;
inline constexpr uint64_t kMpTableAddress = kEbdaAddress;
inline constexpr uint64_t kAcpiTablesAddress = 0xe0000;
inline constexpr uint64_t kAcpiTablesEnd = 0xf0000;
inline constexpr uint64_t kResetVectorAddress = 0xffff0;  // where f000:fff0 points
inline constexpr uint64_t kHighMemoryAddress = 0x100000;  // 1 MiB
inline constexpr uint64_t kKernelLoadAddress = kHighMemoryAddress;

inline constexpr uint64_t kPciHoleStart = 3 * GiB;
inline constexpr uint64_t kPciHoleEnd = 4 * GiB;
inline constexpr uint64_t kPciMmioEnd = 0xfec00000;  // PCI BARs go in [hole start, here)
inline constexpr uint64_t kIoapicAddress = 0xfec00000;
inline constexpr uint64_t kLapicAddress = 0xfee00000;
// KVM needs three pages for the real-mode TSS and one for the identity map, inside the hole
// and clear of everything else there (the addresses QEMU uses).
inline constexpr uint64_t kIdentityMapAddress = 0xfeffc000;
inline constexpr uint64_t kTssAddress = 0xfeffd000;

// ISA interrupt lines of the legacy devices (also their IOAPIC pins: identity routing).
inline constexpr uint32_t kSerialIrq = 4;
// PCI INTA# of slot N is IOAPIC input 16 + N % 8 (the DSDT's _PRT says so; level, active low).
inline constexpr uint32_t kPciIntxFirstGsi = 16;
inline constexpr uint32_t kPciIntxGsiCount = 8;
constexpr uint32_t pci_intx_gsi(uint32_t slot) {
  return kPciIntxFirstGsi + slot % kPciIntxGsiCount;
}
// KVM's IOAPIC has 24 inputs; MSI routes take the GSIs above them.
inline constexpr uint32_t kIoapicPins = 24;
inline constexpr uint32_t kRtcIrq = 8;
// The ACPI power button's event (an edge on this IOAPIC input runs the GED's _EVT method).
inline constexpr uint32_t kPowerButtonGsi = 10;

// I/O ports of Haven's own platform devices.
inline constexpr uint16_t kAcpiSleepControlPort = 0x600;
inline constexpr uint16_t kAcpiSleepStatusPort = 0x601;
inline constexpr uint16_t kAcpiResetPort = 0x602;
inline constexpr uint8_t kAcpiResetValue = 0x1;
inline constexpr uint8_t kAcpiS5SleepType = 5;
inline constexpr uint16_t kPvpanicPort = 0x505;
inline constexpr uint16_t kSerialPort = 0x3f8;
inline constexpr uint16_t kPciConfigPort = 0xcf8;  // 0xcf8-0xcff, with 0xcf9 reset control

inline constexpr uint32_t kMaxVcpus = 254;  // 8-bit xAPIC ids, 0xff is broadcast

}  // namespace haven::arch::x86
