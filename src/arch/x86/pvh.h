#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "arch/x86/e820.h"
#include "base/error.h"

namespace haven::arch::x86 {

// The PVH boot ABI's start-of-day structures (Xen's public arch-x86/hvm/start_info.h),
// written out from the published layout.
struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);

struct HvmModlistEntry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

struct HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

inline constexpr uint32_t kHvmStartMagic = 0x336ec578;

struct PvhInputs {
  uint64_t base_address;  // where the blob goes in guest memory
  uint64_t cmdline_address;
  uint64_t initrd_address;  // 0 with no initrd
  uint64_t initrd_size;
  uint64_t acpi_rsdp_address;
};

// The start info, then the module list, then the memory map, as one blob to copy to
// `base_address` (whose start info address goes in EBX).
std::vector<uint8_t> build_pvh_start_info(std::span<const E820Entry> e820, const PvhInputs& inputs);

}  // namespace haven::arch::x86
