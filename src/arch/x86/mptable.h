#pragma once

#include <cstdint>
#include <vector>

namespace haven::arch::x86 {

// An Intel MultiProcessor Specification 1.4 table: the floating pointer, then the
// configuration table (one processor entry per vCPU, the ISA bus, the IOAPIC, ISA interrupts
// 0-15 routed to the IOAPIC pins of the same number as KVM routes them, LINT0 = ExtINT,
// LINT1 = NMI). Guests booted with ACPI off find their CPUs here.
std::vector<uint8_t> build_mptable(uint64_t base_address, uint32_t vcpu_count);

}  // namespace haven::arch::x86
