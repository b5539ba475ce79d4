#include "arch/x86/cpuid.h"

#include <bit>

namespace haven::arch::x86 {
namespace {

constexpr uint32_t kLeafFeatures = 0x1;
constexpr uint32_t kLeafCacheTopology = 0x4;
constexpr uint32_t kLeafPmu = 0xa;
constexpr uint32_t kLeafTopology = 0xb;
constexpr uint32_t kLeafTopologyV2 = 0x1f;
constexpr uint32_t kLeafAmdAddressSizes = 0x80000008;
constexpr uint32_t kLeafAmdTopology = 0x8000001e;
constexpr uint32_t kLeafAmdMemoryEncryption = 0x8000001f;
constexpr uint32_t kDefaultPhysicalBits = 36;  // what firmware assumes without leaf 0x80000008

constexpr uint32_t kEcxHypervisor = 1u << 31;
constexpr uint32_t kEdxHtt = 1u << 28;
// Levels in leaves 0xB/0x1F: ECX[15:8].
constexpr uint32_t kLevelSmt = 1;
constexpr uint32_t kLevelCore = 2;

// Bits needed to number `count` items (the APIC-id shift of a topology level).
uint32_t id_bits(uint32_t count) {
  return count <= 1 ? 0 : static_cast<uint32_t>(std::bit_width(count - 1));
}

void set_topology_level(kvm_cpuid_entry2& entry, uint32_t apic_id, uint32_t count) {
  uint32_t subleaf = entry.index;
  entry.edx = apic_id;
  if (subleaf == 0) {  // SMT: one thread per core
    entry.eax = 0;
    entry.ebx = 1;
    entry.ecx = (kLevelSmt << 8) | subleaf;
  } else if (subleaf == 1) {  // cores in the package
    entry.eax = id_bits(count);
    entry.ebx = count;
    entry.ecx = (kLevelCore << 8) | subleaf;
  } else {  // no further levels
    entry.eax = 0;
    entry.ebx = 0;
    entry.ecx = subleaf;
  }
}

}  // namespace

std::vector<kvm_cpuid_entry2> build_guest_cpuid(std::span<const kvm_cpuid_entry2> supported,
                                                uint32_t vcpu_index, uint32_t vcpu_count) {
  std::vector<kvm_cpuid_entry2> entries(supported.begin(), supported.end());
  const uint32_t apic_id = vcpu_index;
  for (kvm_cpuid_entry2& entry : entries) {
    switch (entry.function) {
      case kLeafFeatures:
        entry.ecx |= kEcxHypervisor;
        // EBX: [31:24] initial APIC id, [23:16] logical processors in the package.
        entry.ebx = (entry.ebx & 0x0000ffff) | (apic_id << 24) | ((vcpu_count & 0xff) << 16);
        if (vcpu_count > 1)
          entry.edx |= kEdxHtt;
        else
          entry.edx &= ~kEdxHtt;
        break;
      case kLeafCacheTopology:
        // EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing the cache - 1.
        if ((entry.eax & 0x1f) != 0) {
          uint32_t sharing = ((entry.eax >> 5) & 0x7) <= 2 ? 0 : vcpu_count - 1;
          entry.eax =
              (entry.eax & 0x3fff) | (((vcpu_count - 1) & 0x3f) << 26) | ((sharing & 0xfff) << 14);
        }
        break;
      case kLeafPmu:
        entry.eax = entry.ebx = entry.ecx = entry.edx = 0;
        break;
      case kLeafTopology:
      case kLeafTopologyV2:
        set_topology_level(entry, apic_id, vcpu_count);
        break;
      case kLeafAmdAddressSizes:
        // ECX[15:12]: APIC-id bits for cores; ECX[7:0]: cores in the package - 1.
        entry.ecx = (id_bits(vcpu_count) << 12) | ((vcpu_count - 1) & 0xff);
        break;
      case kLeafAmdMemoryEncryption:
        // No SME/SEV for guests: with the SEV bit set, OVMF reads the SEV status MSR in its
        // reset vector and on every string I/O, which faults under plain KVM.
        entry.eax = entry.ebx = entry.ecx = entry.edx = 0;
        break;
      case kLeafAmdTopology:
        entry.eax = apic_id;
        entry.ebx = vcpu_index & 0xff;  // core id; [15:8] threads per core - 1 = 0
        entry.ecx = 0;                  // node 0, one node per package
        entry.edx = 0;
        break;
      default:
        break;
    }
  }
  return entries;
}

uint32_t physical_address_bits(std::span<const kvm_cpuid_entry2> cpuid) {
  for (const kvm_cpuid_entry2& entry : cpuid)
    if (entry.function == kLeafAmdAddressSizes && (entry.eax & 0xff) != 0) return entry.eax & 0xff;
  return kDefaultPhysicalBits;
}

}  // namespace haven::arch::x86
