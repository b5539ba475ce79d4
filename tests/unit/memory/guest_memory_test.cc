#include "memory/guest_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <initializer_list>
#include <vector>

#include "base/unique_fd.h"
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

GuestMemory memory_of(std::initializer_list<RegionSpec> specs) {
  auto memory = GuestMemory::create(std::span(specs.begin(), specs.size()));
  EXPECT_TRUE(memory) << memory.error().message();
  return std::move(*memory);
}

TEST(GuestAddr, ArithmeticComparisonAndFormatting) {
  EXPECT_EQ((GuestAddr(0x1000) + 0x10).value(), 0x1010u);
  EXPECT_EQ((GuestAddr(~0ull) + 2).value(), 1u) << "wraps like the hardware";
  EXPECT_LT(GuestAddr(1), GuestAddr(2));
  EXPECT_EQ(GuestAddr(7), GuestAddr(7));
  EXPECT_EQ(GuestAddr().value(), 0u);
  EXPECT_EQ(fmt::format("{}", GuestAddr(0xfee00000)), "0xfee00000");
  EXPECT_EQ(fmt::format("{}", GuestAddr(0)), "0x0");
}

TEST(GuestMemory, RegionsAreReportedAsCreated) {
  GuestMemory memory = split_memory();
  ASSERT_EQ(memory.regions().size(), 2u);
  EXPECT_EQ(memory.regions()[0].start, GuestAddr(0));
  EXPECT_EQ(memory.regions()[0].size(), 3 * GiB);
  EXPECT_EQ(memory.regions()[0].end(), GuestAddr(3 * GiB));
  EXPECT_EQ(memory.regions()[1].start, GuestAddr(4 * GiB));
  EXPECT_EQ(memory.regions()[1].end(), GuestAddr(4 * GiB + 512 * MiB));
}

TEST(GuestMemory, FreshMemoryReadsZero) {
  GuestMemory memory = split_memory();
  EXPECT_EQ(*memory.read<uint64_t>(GuestAddr(0)), 0u);
  EXPECT_EQ(*memory.read<uint64_t>(GuestAddr(4 * GiB + 256 * MiB)), 0u);
}

TEST(GuestMemory, MultiByteValuesAreLittleEndianAndMayBeUnaligned) {
  GuestMemory memory = split_memory();
  ASSERT_TRUE(memory.write<uint32_t>(GuestAddr(0x1003), 0x11223344));
  uint8_t bytes[4] = {};
  ASSERT_TRUE(memory.read_bytes(GuestAddr(0x1003), bytes));
  EXPECT_EQ(bytes[0], 0x44);
  EXPECT_EQ(bytes[3], 0x11);
  EXPECT_EQ(*memory.read<uint16_t>(GuestAddr(0x1004)), 0x2233);
}

struct Descriptor {
  uint64_t address;
  uint32_t length;
  uint16_t flags;
  uint16_t next;
};

TEST(GuestMemory, StructsRoundTrip) {
  GuestMemory memory = split_memory();
  const Descriptor written{0x123456789a, 0x1000, 0x3, 7};
  const GuestAddr at(4 * GiB + 512 * MiB - sizeof(Descriptor));  // flush with the end
  ASSERT_TRUE(memory.write(at, written));
  auto read = memory.read<Descriptor>(at);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->address, written.address);
  EXPECT_EQ(read->length, written.length);
  EXPECT_EQ(read->flags, written.flags);
  EXPECT_EQ(read->next, written.next);
  EXPECT_FALSE(memory.read<Descriptor>(at + 1));
  EXPECT_FALSE(memory.write(at + 1, written));
}

TEST(GuestMemory, SpansAreTheGuestsBytes) {
  GuestMemory memory = split_memory();
  auto span = memory.span(GuestAddr(4 * GiB + 0x100), 8);
  ASSERT_TRUE(span);
  (*span)[0] = 0x5a;
  (*span)[7] = 0xa5;
  EXPECT_EQ(*memory.read<uint8_t>(GuestAddr(4 * GiB + 0x100)), 0x5a);
  EXPECT_EQ(*memory.read<uint8_t>(GuestAddr(4 * GiB + 0x107)), 0xa5);
  // Two spans of the same guest range see the same host memory.
  auto again = memory.span(GuestAddr(4 * GiB + 0x100), 8);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->data(), span->data());
  // A whole region is one span.
  auto whole = memory.span(GuestAddr(4 * GiB), 512 * MiB);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->size(), 512 * MiB);
  EXPECT_EQ(whole->data() + 0x100, span->data());
}

TEST(GuestMemory, WritesOnePastTheEndFailWithoutTouchingMemory) {
  GuestMemory memory = split_memory();
  ASSERT_TRUE(memory.fill(GuestAddr(3 * GiB - 8), 8, 0x11));
  EXPECT_FALSE(memory.write<uint64_t>(GuestAddr(3 * GiB - 4), ~0ull));
  const uint8_t data[5] = {1, 2, 3, 4, 5};
  EXPECT_FALSE(memory.write_bytes(GuestAddr(3 * GiB - 4), data));
  EXPECT_FALSE(memory.fill(GuestAddr(3 * GiB - 4), 5, 0xee));
  EXPECT_EQ(*memory.read<uint64_t>(GuestAddr(3 * GiB - 8)), 0x1111111111111111ull)
      << "a refused access must not write the part that fits";
  EXPECT_TRUE(memory.write_bytes(GuestAddr(3 * GiB - 5), data)) << "exactly up to the end";
  EXPECT_EQ(*memory.read<uint8_t>(GuestAddr(3 * GiB - 1)), 5);
}

TEST(GuestMemory, FailedReadsLeaveTheBufferAlone) {
  GuestMemory memory = split_memory();
  uint8_t out[4] = {9, 9, 9, 9};
  auto result = memory.read_bytes(GuestAddr(3 * GiB - 2), out);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(), "guest range 0xbffffffe..+0x4 is outside guest memory");
  for (uint8_t byte : out) EXPECT_EQ(byte, 9);
}

TEST(GuestMemory, AnAccessMayNotStraddleEvenAdjacentRegions) {
  // Contiguous regions still count as two: an access must fit in one of them.
  GuestMemory memory = memory_of({{GuestAddr(0), 0x1000}, {GuestAddr(0x1000), 0x1000}});
  EXPECT_TRUE(memory.span(GuestAddr(0xff8), 8));
  EXPECT_TRUE(memory.span(GuestAddr(0x1000), 8));
  EXPECT_FALSE(memory.span(GuestAddr(0xffc), 8));
  EXPECT_FALSE(memory.read<uint64_t>(GuestAddr(0xffc)));
  EXPECT_EQ(memory.total_size(), 0x2000u);
}

TEST(GuestMemory, ZeroLengthAccessesAtTheEdges) {
  GuestMemory memory = split_memory();
  EXPECT_TRUE(memory.contains(GuestAddr(0), 0));
  EXPECT_TRUE(memory.contains(GuestAddr(3 * GiB - 1), 0));
  EXPECT_FALSE(memory.contains(GuestAddr(3 * GiB + 0x1000), 0)) << "inside the PCI hole";
  EXPECT_FALSE(memory.contains(GuestAddr(4 * GiB + 512 * MiB + 1), 0)) << "past the end";
  EXPECT_FALSE(memory.contains(GuestAddr(~0ull), 0));
  EXPECT_TRUE(memory.fill(GuestAddr(0x3000), 0, 0xff));
  EXPECT_EQ(*memory.read<uint8_t>(GuestAddr(0x3000)), 0);
}

TEST(GuestMemory, OverflowingRangesInEveryRegion) {
  GuestMemory memory = split_memory();
  // Each of these would "fit" if offset + length were allowed to wrap.
  EXPECT_FALSE(memory.contains(GuestAddr(0x10), ~0ull - 0xf));
  EXPECT_FALSE(memory.contains(GuestAddr(4 * GiB + 0x10), ~0ull - 0xf));
  EXPECT_FALSE(memory.contains(GuestAddr(4 * GiB + 0x10), ~0ull));
  EXPECT_FALSE(memory.contains(GuestAddr(0xffffffffffffff00ull), 0x100));
  uint8_t out[0x20];
  EXPECT_FALSE(memory.read_bytes(GuestAddr(0xfffffffffffffff0ull), out));
}

TEST(GuestMemory, AddressesBelowTheFirstRegionAreOutside) {
  GuestMemory memory = memory_of({{GuestAddr(0x100000), 0x1000}});
  EXPECT_FALSE(memory.contains(GuestAddr(0), 1));
  EXPECT_FALSE(memory.contains(GuestAddr(0xfffff), 1));
  EXPECT_FALSE(memory.contains(GuestAddr(0xfffff), 2)) << "ends inside, starts before";
  EXPECT_TRUE(memory.contains(GuestAddr(0x100000), 0x1000));
}

TEST(GuestMemory, RamAboveFourGibIsReachableToItsLastByte) {
  // An 8 GiB guest: 3 GiB below the hole, 5 GiB above 4 GiB. Mappings are MAP_NORESERVE, so
  // only the touched pages cost anything.
  GuestMemory memory = memory_of({{GuestAddr(0), 3 * GiB}, {GuestAddr(4 * GiB), 5 * GiB}});
  EXPECT_EQ(memory.total_size(), 8 * GiB);
  const GuestAddr last(9 * GiB - 8);
  ASSERT_TRUE(memory.write<uint64_t>(last, 0x0123456789abcdefull));
  EXPECT_EQ(*memory.read<uint64_t>(last), 0x0123456789abcdefull);
  EXPECT_FALSE(memory.read<uint64_t>(last + 1));
  for (uint64_t hole :
       {3 * GiB, 3 * GiB + 0x1000, uint64_t{0xfec00000}, uint64_t{0xfee00000}, 4 * GiB - 8})
    EXPECT_FALSE(memory.read<uint64_t>(GuestAddr(hole))) << fmt::format("{:#x}", hole);
}

TEST(GuestMemory, NoRegionsMeansNoMemory) {
  auto memory = GuestMemory::create({});
  ASSERT_TRUE(memory) << memory.error().message();
  EXPECT_EQ(memory->total_size(), 0u);
  EXPECT_FALSE(memory->contains(GuestAddr(0), 1));
  EXPECT_FALSE(memory->contains(GuestAddr(0), 0));
}

TEST(GuestMemory, CreateErrorsNameTheRegion) {
  const RegionSpec empty[] = {{GuestAddr(0x1000), 0}};
  auto result = GuestMemory::create(empty);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(),
            "guest memory region at 0x1000 of 0 bytes is not page-aligned");
  const RegionSpec overlapping[] = {{GuestAddr(0), 0x2000}, {GuestAddr(0x1000), 0x1000}};
  result = GuestMemory::create(overlapping);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(),
            "guest memory region at 0x1000 overlaps or precedes the one before it");
  const RegionSpec wrapping[] = {{GuestAddr(0xfffffffffffff000ull), 0x2000}};
  result = GuestMemory::create(wrapping);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(),
            "guest memory region at 0xfffffffffffff000 of 8192 bytes wraps around");
}

// A memfd holding `pages` pages, page i filled with the byte i + 1.
UniqueFd numbered_pages(size_t pages) {
  UniqueFd fd(::memfd_create("haven-guest-memory-test", MFD_CLOEXEC));
  EXPECT_TRUE(fd);
  for (size_t i = 0; i < pages; ++i) {
    std::vector<uint8_t> page(0x1000, static_cast<uint8_t>(i + 1));
    EXPECT_EQ(::pwrite(fd.get(), page.data(), page.size(), static_cast<off_t>(i * 0x1000)), 0x1000);
  }
  return fd;
}

TEST(GuestMemory, MapFilePlacesEachRegionAtItsFileOffset) {
  UniqueFd fd = numbered_pages(4);
  const RegionSpec specs[] = {{GuestAddr(0), 0x1000}, {GuestAddr(0x10000), 0x2000}};
  const uint64_t offsets[] = {0x2000, 0x0};
  auto memory = GuestMemory::map_file(specs, fd.get(), offsets);
  ASSERT_TRUE(memory) << memory.error().message();
  EXPECT_EQ(memory->read<uint8_t>(GuestAddr(0)).value(), 3);
  EXPECT_EQ(memory->read<uint8_t>(GuestAddr(0x10000)).value(), 1);
  EXPECT_EQ(memory->read<uint8_t>(GuestAddr(0x11fff)).value(), 2);
  EXPECT_FALSE(memory->regions()[1].anonymous);
  // Copy-on-write: the guest's writes stay in its memory.
  ASSERT_TRUE(memory->fill(GuestAddr(0), 0x1000, 0xff));
  uint8_t byte = 0;
  ASSERT_EQ(::pread(fd.get(), &byte, 1, 0x2000), 1);
  EXPECT_EQ(byte, 3);
}

TEST(GuestMemory, MapFileChecksRegionsAndOffsets) {
  UniqueFd fd = numbered_pages(2);
  const RegionSpec specs[] = {{GuestAddr(0), 0x1000}};
  const uint64_t two[] = {0, 0x1000};
  auto result = GuestMemory::map_file(specs, fd.get(), two);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(), "1 memory regions but 2 file offsets");
  const uint64_t unaligned[] = {0x800};
  result = GuestMemory::map_file(specs, fd.get(), unaligned);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("not page-aligned"), std::string::npos);
  const RegionSpec odd[] = {{GuestAddr(0), 0x800}};
  const uint64_t zero[] = {0};
  EXPECT_FALSE(GuestMemory::map_file(odd, fd.get(), zero));
}

}  // namespace
}  // namespace haven::memory
