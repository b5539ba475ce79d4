#include "arch/x86/e820.h"

#include <gtest/gtest.h>

#include "arch/x86/layout.h"

namespace haven::arch::x86 {
namespace {

uint64_t ram_bytes(const std::vector<E820Entry>& map) {
  uint64_t total = 0;
  for (const E820Entry& entry : map)
    if (entry.type == E820Type::ram) total += entry.size;
  return total;
}

void expect_sorted_and_disjoint(const std::vector<E820Entry>& map) {
  for (size_t i = 1; i < map.size(); ++i)
    EXPECT_LE(map[i - 1].address + map[i - 1].size, map[i].address) << "entry " << i;
}

TEST(E820, SmallGuestHasBaseMemoryBiosAreaAndHighRam) {
  auto regions = ram_regions(512 * MiB);
  ASSERT_EQ(regions.size(), 1u);
  auto map = build_e820(regions);
  std::vector<E820Entry> want = {
      {0, kEbdaAddress, E820Type::ram},
      {kEbdaAddress, kHighMemoryAddress - kEbdaAddress, E820Type::reserved},
      {kHighMemoryAddress, 512 * MiB - kHighMemoryAddress, E820Type::ram},
  };
  EXPECT_EQ(map, want);
}

TEST(E820, MemoryUpToTheHoleStaysBelow4G) {
  auto regions = ram_regions(3 * GiB);
  ASSERT_EQ(regions.size(), 1u);
  auto map = build_e820(regions);
  EXPECT_EQ(map.back().address + map.back().size, kPciHoleStart);
  EXPECT_EQ(ram_bytes(map), 3 * GiB - (kHighMemoryAddress - kEbdaAddress));
}

TEST(E820, MemoryBeyondTheHoleContinuesAt4G) {
  for (uint64_t size : {3 * GiB + 4096, 5 * GiB, 64 * GiB}) {
    auto regions = ram_regions(size);
    ASSERT_EQ(regions.size(), 2u);
    EXPECT_EQ(regions[0].size, kPciHoleStart);
    EXPECT_EQ(regions[1].start.value(), kPciHoleEnd);
    EXPECT_EQ(regions[0].size + regions[1].size, size);
    auto map = build_e820(regions);
    expect_sorted_and_disjoint(map);
    EXPECT_EQ(ram_bytes(map), size - (kHighMemoryAddress - kEbdaAddress));
    for (const E820Entry& entry : map) {
      bool in_hole = entry.address < kPciHoleEnd && entry.address + entry.size > kPciHoleStart;
      EXPECT_FALSE(in_hole) << "entry at " << entry.address << " overlaps the PCI hole";
    }
    EXPECT_EQ(map.back().address, kPciHoleEnd);
    EXPECT_EQ(map.back().size, size - kPciHoleStart);
  }
}

}  // namespace
}  // namespace haven::arch::x86
