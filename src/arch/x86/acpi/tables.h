#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "arch/x86/layout.h"

namespace haven::arch::x86::acpi {

// Where the PCI root bridge decodes memory, as the DSDT declares it: [start, end). A kernel
// keeps the BARs firmware placed only if they fall inside a declared window.
struct PciWindows {
  uint64_t mmio32_start = kPciHoleStart;
  uint64_t mmio32_end = kPciMmioEnd;
  // Above 4 GiB, where OVMF puts 64-bit BARs; none for direct boot (Haven places BARs low).
  std::optional<uint64_t> mmio64_start;
  uint64_t mmio64_end = 0;
};

struct AcpiConfig {
  uint32_t vcpu_count = 1;
  PciWindows pci;
  // A PC booted through firmware: full ACPI on the PIIX4's power management block at this I/O
  // base (PM1 event/control registers, PM timer, the fixed power button, SCI on IRQ 9, reset
  // through 0xCF9), with a FACS, the 8259s declared and soft-off as sleep type 0. Without it
  // the tables are hardware-reduced on Haven's own power ports (a directly booted kernel).
  std::optional<uint16_t> pm_base;
};

// Haven's ACPI tables:
//   RSDP -> XSDT -> FADT (hardware-reduced: sleep control/status and reset registers on
//           Haven's power ports) -> DSDT (\_S5 for power-off; COM1; the PCI root bridge; the
//           power button's GED; the pvpanic device)
//        -> MADT (one local APIC per vCPU, the IOAPIC, LINT1 = NMI).
// Hardware-reduced ACPI means no PM timer, GPEs or SCI: power-off, reboot and panic reach
// the VMM as plain port writes. A firmware-booted PC (AcpiConfig::pm_base) gets full ACPI
// instead: its firmware left the 8259s and the PIT running, and only an OS that knows of them
// (which a hardware-reduced FADT says there are none) masks them before it enables interrupts.
//
// Built once, placed two ways: at a fixed address for a directly booted kernel
// (build_acpi_tables), or handed to guest firmware as relocatable blobs with QEMU's
// linker/loader script (table_loader.h), so that a guest booted through SeaBIOS or OVMF sees
// the same tables, wherever its firmware puts them.
struct RelocatableAcpi {
  enum class Blob : uint8_t { rsdp, tables };
  // A pointer field of `size` bytes at `offset` in blob `in`: it holds an offset into blob
  // `target`, to which the target's final address is to be added.
  struct Pointer {
    Blob in;
    uint32_t offset;
    uint8_t size;
    Blob target;
  };
  // Byte `offset` of blob `in` makes bytes [start, start + length) sum to zero; computed in
  // list order, after every pointer is resolved (the RSDP's second checksum covers its first).
  struct Checksum {
    Blob in;
    uint32_t offset;
    uint32_t start;
    uint32_t length;
  };
  std::vector<uint8_t> rsdp;    // checksum bytes zero
  std::vector<uint8_t> tables;  // XSDT, FADT, MADT, DSDT; checksum bytes zero
  std::vector<Pointer> pointers;
  std::vector<Checksum> checksums;
};
RelocatableAcpi build_relocatable_acpi(const AcpiConfig& config);

// The tables as one blob to copy to `base_address`, RSDP first, every pointer and checksum
// resolved.
struct AcpiTables {
  std::vector<uint8_t> blob;
  uint64_t rsdp_address;
};
AcpiTables build_acpi_tables(uint64_t base_address, const AcpiConfig& config);
inline AcpiTables build_acpi_tables(uint64_t base_address, uint32_t vcpu_count) {
  AcpiConfig config;
  config.vcpu_count = vcpu_count;
  return build_acpi_tables(base_address, config);
}

// Offsets and sizes the tables use, exported for tests.
inline constexpr size_t kSdtHeaderSize = 36;
inline constexpr size_t kRsdpSize = 36;
inline constexpr size_t kFadtSize = 276;  // revision 6

}  // namespace haven::arch::x86::acpi
