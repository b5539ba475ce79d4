#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "memory/guest_memory.h"

namespace haven::arch::x86 {

enum class E820Type : uint32_t { ram = 1, reserved = 2, acpi = 3 };

struct E820Entry {
  uint64_t address;
  uint64_t size;
  E820Type type;
  bool operator==(const E820Entry&) const = default;
};

// The guest's RAM split around the PCI hole: [0, min(size, 3 GiB)) and the rest from 4 GiB.
std::vector<memory::RegionSpec> ram_regions(uint64_t memory_size);

// The memory map the guest is told about: base memory up to the EBDA, the BIOS area
// (EBDA, VGA hole, MP and ACPI tables) reserved, and RAM from 1 MiB in each region.
std::vector<E820Entry> build_e820(std::span<const memory::RegionSpec> ram);

}  // namespace haven::arch::x86
