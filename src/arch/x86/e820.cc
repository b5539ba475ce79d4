#include "arch/x86/e820.h"

#include <algorithm>

#include "arch/x86/layout.h"

namespace haven::arch::x86 {

std::vector<memory::RegionSpec> ram_regions(uint64_t memory_size) {
  std::vector<memory::RegionSpec> regions;
  uint64_t low = std::min(memory_size, kPciHoleStart);
  regions.push_back({memory::GuestAddr(0), low});
  if (memory_size > low) regions.push_back({memory::GuestAddr(kPciHoleEnd), memory_size - low});
  return regions;
}

std::vector<E820Entry> build_e820(std::span<const memory::RegionSpec> ram) {
  std::vector<E820Entry> map;
  for (const memory::RegionSpec& region : ram) {
    uint64_t start = region.start.value();
    uint64_t end = start + region.size;
    if (start < kHighMemoryAddress) {
      // The first region holds the BIOS-era low megabyte.
      map.push_back({start, std::min(end, kEbdaAddress) - start, E820Type::ram});
      if (end > kEbdaAddress)
        map.push_back(
            {kEbdaAddress, std::min(end, kHighMemoryAddress) - kEbdaAddress, E820Type::reserved});
      if (end > kHighMemoryAddress)
        map.push_back({kHighMemoryAddress, end - kHighMemoryAddress, E820Type::ram});
    } else {
      map.push_back({start, end - start, E820Type::ram});
    }
  }
  return map;
}

}  // namespace haven::arch::x86
