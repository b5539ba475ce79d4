#include "arch/x86/page_tables.h"

#include <gtest/gtest.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "unit/arch/x86/tables_test_util.h"

namespace haven::arch::x86 {
namespace {

using memory::GuestAddr;

TEST(PageTables, IdentityMapTheFirstFourGigabytesWithLargePages) {
  memory::RegionSpec spec{GuestAddr(0), 2 * MiB};
  auto memory = memory::GuestMemory::create(std::span(&spec, 1));
  ASSERT_TRUE(memory);
  auto cr3 = write_identity_page_tables(*memory);
  ASSERT_TRUE(cr3) << cr3.error().message();
  EXPECT_EQ(*cr3, kPageTablesAddress);
  // Walks the tables for a virtual address as the MMU would; returns the physical address.
  auto translate = [&](uint64_t virt) -> uint64_t {
    uint64_t pml4e = *memory->read<uint64_t>(GuestAddr(*cr3 + ((virt >> 39) & 511) * 8));
    EXPECT_EQ(pml4e & 3, 3u) << "PML4E present+writable";
    uint64_t pdpte =
        *memory->read<uint64_t>(GuestAddr((pml4e & ~0xfffull) + ((virt >> 30) & 511) * 8));
    EXPECT_EQ(pdpte & 3, 3u);
    uint64_t pde =
        *memory->read<uint64_t>(GuestAddr((pdpte & ~0xfffull) + ((virt >> 21) & 511) * 8));
    EXPECT_EQ(pde & 0x83, 0x83u) << "PDE present+writable+2MiB";
    return (pde & ~0x1fffffull) | (virt & 0x1fffff);
  };
  for (uint64_t virt :
       {0ull, 0x1234ull, 0x100000ull, 0x7fffffffull, 0xc0000000ull, 0xfee00000ull, 0xffffffffull})
    EXPECT_EQ(translate(virt), virt);
}

TEST(MpTable, ChecksumsAndOneProcessorEntryPerVcpu) {
  for (uint32_t cpus : {1u, 2u, 16u}) {
    auto table = build_mptable(kMpTableAddress, cpus);
    std::span<const uint8_t> bytes(table);
    ASSERT_GE(bytes.size(), 16u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), 4), "_MP_");
    EXPECT_EQ(testing::byte_sum(bytes.first(16)), 0) << "floating pointer checksum";
    auto config_address = testing::load<uint32_t>(bytes, 4);
    ASSERT_GE(config_address, kMpTableAddress);
    auto config = bytes.subspan(config_address - kMpTableAddress);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(config.data()), 4), "PCMP");
    auto length = testing::load<uint16_t>(config, 4);
    ASSERT_LE(length, config.size());
    EXPECT_EQ(testing::byte_sum(config.first(length)), 0) << "config table checksum";
    uint16_t entries = testing::load<uint16_t>(config, 34);
    uint32_t processors = 0, boot_processors = 0;
    size_t offset = 44;
    for (uint16_t i = 0; i < entries; ++i) {
      ASSERT_LT(offset, length);
      uint8_t type = config[offset];
      if (type == 0) {
        EXPECT_EQ(config[offset + 1], processors);  // APIC id
        EXPECT_TRUE(config[offset + 3] & 1);        // enabled
        if (config[offset + 3] & 2) ++boot_processors;
        ++processors;
        offset += 20;
      } else {
        offset += 8;
      }
    }
    EXPECT_EQ(offset, length);
    EXPECT_EQ(processors, cpus);
    EXPECT_EQ(boot_processors, 1u);
  }
}

}  // namespace
}  // namespace haven::arch::x86
