#pragma once

#include "kvm/linux_kvm.h"

#include <cstdint>
#include <span>
#include <vector>

namespace haven::arch::x86 {

// The CPU model a guest sees. Haven starts from what KVM can virtualize on this host
// (KVM_GET_SUPPORTED_CPUID) and makes it a coherent machine:
//   - topology: one socket of `vcpu_count` cores, one thread each, APIC id = vCPU index
//     (leaves 0x1, 0x4, 0xB, 0x1F, 0x80000008, 0x8000001E);
//   - the hypervisor bit set (leaf 0x1 ECX[31]);
//   - no architectural PMU (leaf 0xA zeroed): perf counters are not virtualized;
//   - no memory encryption (leaf 0x8000001F zeroed).
std::vector<kvm_cpuid_entry2> build_guest_cpuid(std::span<const kvm_cpuid_entry2> supported,
                                                uint32_t vcpu_index, uint32_t vcpu_count);

// The guest-physical address width CPUID reports (leaf 0x80000008 EAX[7:0]; 36 without it).
uint32_t physical_address_bits(std::span<const kvm_cpuid_entry2> cpuid);

}  // namespace haven::arch::x86
