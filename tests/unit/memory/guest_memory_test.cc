#include "memory/guest_memory.h"

#include <gtest/gtest.h>

#include "base/units.h"

namespace haven::memory {
namespace {

// RAM as Haven lays it out for a 3.5 GiB guest: [0, 3 GiB) and [4 GiB, 4.5 GiB). Mappings
// are lazy, so this costs only the pages the test touches.
GuestMemory split_memory() {
  const RegionSpec specs[] = {{GuestAddr(0), 3 * GiB}, {GuestAddr(4 * GiB), 512 * MiB}};
  auto memory = GuestMemory::create(specs);
  EXPECT_TRUE(memory) << memory.error().message();
  return std::move(*memory);
}

TEST(GuestMemory, ReadWriteRoundTripsInBothRegions) {
  GuestMemory memory = split_memory();
  EXPECT_EQ(memory.total_size(), 3 * GiB + 512 * MiB);
  ASSERT_TRUE(memory.write<uint64_t>(GuestAddr(0x1000), 0x1122334455667788ull));
  EXPECT_EQ(*memory.read<uint64_t>(GuestAddr(0x1000)), 0x1122334455667788ull);
  ASSERT_TRUE(memory.write<uint32_t>(GuestAddr(4 * GiB + 8), 0xdeadbeef));
  EXPECT_EQ(*memory.read<uint32_t>(GuestAddr(4 * GiB + 8)), 0xdeadbeefu);
}

TEST(GuestMemory, AccessesAtTheExactEndsOfRegions) {
  GuestMemory memory = split_memory();
  EXPECT_TRUE(memory.read<uint8_t>(GuestAddr(3 * GiB - 1)));
  EXPECT_TRUE(memory.read<uint32_t>(GuestAddr(3 * GiB - 4)));
  EXPECT_FALSE(memory.read<uint32_t>(GuestAddr(3 * GiB - 3))) << "straddles the end";
  EXPECT_FALSE(memory.read<uint8_t>(GuestAddr(3 * GiB))) << "first byte of the PCI hole";
  EXPECT_FALSE(memory.read<uint8_t>(GuestAddr(4 * GiB - 1))) << "last byte of the PCI hole";
  EXPECT_TRUE(memory.read<uint8_t>(GuestAddr(4 * GiB)));
  EXPECT_TRUE(memory.read<uint8_t>(GuestAddr(4 * GiB + 512 * MiB - 1)));
  EXPECT_FALSE(memory.read<uint8_t>(GuestAddr(4 * GiB + 512 * MiB)));
}

TEST(GuestMemory, AnAccessMustLieInsideOneRegion) {
  GuestMemory memory = split_memory();
  // 3 GiB - 16 .. 4 GiB + 16 spans the hole: refused even though both ends are RAM.
  EXPECT_FALSE(memory.span(GuestAddr(3 * GiB - 16), 1 * GiB + 32));
}

TEST(GuestMemory, OverflowingRangesAreRefused) {
  GuestMemory memory = split_memory();
  EXPECT_FALSE(memory.span(GuestAddr(0xfffffffffffffff0ull), 0x20));
  EXPECT_FALSE(memory.span(GuestAddr(0x1000), ~0ull));
  EXPECT_FALSE(memory.span(GuestAddr(0x1000), ~0ull - 0x800));
  auto error = memory.span(GuestAddr(0xfffffffffffffff0ull), 0x20);
  ASSERT_FALSE(error);
  EXPECT_FALSE(error.error().message().empty());
}

TEST(GuestMemory, ZeroLengthAndSpans) {
  GuestMemory memory = split_memory();
  auto span = memory.span(GuestAddr(0x2000), 16);
  ASSERT_TRUE(span);
  EXPECT_EQ(span->size(), 16u);
  ASSERT_TRUE(memory.fill(GuestAddr(0x2000), 16, 0xcc));
  EXPECT_EQ((*span)[15], 0xcc);
  std::vector<uint8_t> out(16);
  ASSERT_TRUE(memory.read_bytes(GuestAddr(0x2000), out));
  EXPECT_EQ(out[0], 0xcc);
  EXPECT_TRUE(memory.span(GuestAddr(0x2000), 0));
}

TEST(GuestMemory, CreateRefusesBadRegionLists) {
  const RegionSpec unaligned[] = {{GuestAddr(0x10), 4096}};
  EXPECT_FALSE(GuestMemory::create(unaligned));
  const RegionSpec odd_size[] = {{GuestAddr(0), 4095}};
  EXPECT_FALSE(GuestMemory::create(odd_size));
  const RegionSpec overlapping[] = {{GuestAddr(0), 8192}, {GuestAddr(4096), 4096}};
  EXPECT_FALSE(GuestMemory::create(overlapping));
  const RegionSpec unsorted[] = {{GuestAddr(8192), 4096}, {GuestAddr(0), 4096}};
  EXPECT_FALSE(GuestMemory::create(unsorted));
  const RegionSpec wrapping[] = {{GuestAddr(0xfffffffffffff000ull), 8192}};
  EXPECT_FALSE(GuestMemory::create(wrapping));
}

}  // namespace
}  // namespace haven::memory
