#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace haven::arch::x86::acpi {

// Haven's ACPI tables, as one blob to copy to `base_address` with the RSDP first:
//   RSDP -> XSDT -> FADT (hardware-reduced: sleep control/status and reset registers on
//           Haven's power ports) -> DSDT (\_S5 for power-off; COM1; the pvpanic device)
//        -> MADT (one local APIC per vCPU, the IOAPIC, LINT1 = NMI).
// Hardware-reduced ACPI means no PM timer, GPEs or SCI: power-off, reboot and panic reach
// the VMM as plain port writes.
struct AcpiTables {
  std::vector<uint8_t> blob;
  uint64_t rsdp_address;
};
AcpiTables build_acpi_tables(uint64_t base_address, uint32_t vcpu_count);

// Offsets and sizes the tables use, exported for tests.
inline constexpr size_t kSdtHeaderSize = 36;
inline constexpr size_t kRsdpSize = 36;
inline constexpr size_t kFadtSize = 276;  // revision 6

}  // namespace haven::arch::x86::acpi
