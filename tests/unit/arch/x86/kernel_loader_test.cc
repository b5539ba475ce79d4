#include "arch/x86/kernel_loader.h"

#include <gtest/gtest.h>

#include "arch/x86/layout.h"
#include "unit/arch/x86/test_images.h"

namespace haven::arch::x86 {
namespace {

using memory::GuestAddr;

memory::GuestMemory make_memory(uint64_t size) {
  memory::RegionSpec spec{GuestAddr(0), size};
  auto memory = memory::GuestMemory::create(std::span(&spec, 1));
  EXPECT_TRUE(memory) << memory.error().message();
  return std::move(*memory);
}

std::string read_string(const memory::GuestMemory& memory, uint64_t address) {
  std::string text;
  for (;; ++address) {
    auto c = memory.read<char>(GuestAddr(address));
    if (!c || *c == 0) return text;
    text += *c;
  }
}

TEST(KernelLoader, BzImageLoadsKernelCmdlineInitrdAndZeroPage) {
  auto memory = make_memory(64 * MiB);
  auto file = testing::make_bzimage(4, 8192);
  std::vector<uint8_t> initrd(10000, 0xab);
  KernelImages images{file, std::span<const uint8_t>(initrd), "console=ttyS0 quiet", 0xe0000};
  auto entry = load_kernel(memory, images);
  ASSERT_TRUE(entry) << entry.error().message();
  EXPECT_EQ(entry->mode, EntryMode::long_mode);
  EXPECT_EQ(entry->entry_point, kKernelLoadAddress + 0x200);
  EXPECT_EQ(entry->boot_info, kZeroPageAddress);
  EXPECT_EQ(*memory.read<uint8_t>(GuestAddr(kKernelLoadAddress)), file[5 * 512]);
  EXPECT_EQ(read_string(memory, kCmdlineAddress), "console=ttyS0 quiet");

  auto params = memory.read<boot_params>(GuestAddr(kZeroPageAddress));
  ASSERT_TRUE(params);
  EXPECT_EQ(params->hdr.cmd_line_ptr, kCmdlineAddress);
  EXPECT_EQ(params->hdr.ramdisk_size, initrd.size());
  uint64_t initrd_at = params->hdr.ramdisk_image;
  EXPECT_EQ(initrd_at % 4096, 0u);
  EXPECT_LE(initrd_at + initrd.size(), 64 * MiB);
  EXPECT_GE(initrd_at, kKernelLoadAddress + 8192 * 4);  // above the kernel's init_size
  EXPECT_EQ(*memory.read<uint8_t>(GuestAddr(initrd_at + 9999)), 0xab);
  EXPECT_EQ(params->acpi_rsdp_addr, 0xe0000u);
  EXPECT_GE(params->e820_entries, 3);
}

TEST(KernelLoader, PvhLoadsSegmentsAndStartInfo) {
  auto memory = make_memory(64 * MiB);
  auto file = testing::make_elf(0x1000000, 256, true, 4096);
  ASSERT_TRUE(memory.fill(GuestAddr(0x1000000 + 256), 4096, 0xee));  // bss must be zeroed
  KernelImages images{file, std::nullopt, "root=/dev/vda", 0xe0000};
  auto entry = load_kernel(memory, images);
  ASSERT_TRUE(entry) << entry.error().message();
  EXPECT_EQ(entry->mode, EntryMode::protected_mode);
  EXPECT_EQ(entry->entry_point, 0x1000010u);
  EXPECT_EQ(entry->boot_info, kPvhStartInfoAddress);
  EXPECT_EQ(*memory.read<uint8_t>(GuestAddr(0x1000000)), 0x90);
  EXPECT_EQ(*memory.read<uint8_t>(GuestAddr(0x1000000 + 256 + 100)), 0);
  EXPECT_EQ(*memory.read<uint32_t>(GuestAddr(kPvhStartInfoAddress)), 0x336ec578u);  // magic
  EXPECT_EQ(read_string(memory, kCmdlineAddress), "root=/dev/vda");
}

TEST(KernelLoader, ClearErrorsForImpossibleLoads) {
  auto small = make_memory(2 * MiB);
  auto big_kernel = testing::make_bzimage(4, 4 * MiB);
  auto result = load_kernel(small, {big_kernel, std::nullopt, "", 0});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("too small"), std::string::npos)
      << result.error().message();

  auto memory = make_memory(16 * MiB);
  auto kernel = testing::make_bzimage(4, 4096);
  std::vector<uint8_t> huge_initrd(15 * MiB);
  result = load_kernel(memory, {kernel, std::span<const uint8_t>(huge_initrd), "", 0});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("initrd"), std::string::npos);

  result = load_kernel(memory, {kernel, std::nullopt, std::string("a\0b", 3), 0});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("NUL"), std::string::npos);

  result = load_kernel(memory, {kernel, std::nullopt, std::string(5000, 'x'), 0});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("at most 2048"), std::string::npos);

  std::vector<uint8_t> junk(4096, 0x55);
  result = load_kernel(memory, {junk, std::nullopt, "", 0});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("not a bzImage"), std::string::npos);
}

TEST(KernelLoader, HostilePreferredAddressCannotWrapTheSizeCheck) {
  auto memory = make_memory(16 * MiB);
  auto kernel = testing::make_bzimage(4, 4096);
  testing::header_of(kernel).pref_address = ~0ull - 0x1000;
  auto result = load_kernel(memory, {kernel, std::nullopt, "", 0});
  ASSERT_FALSE(result);
}

TEST(KernelLoader, ElfWithoutPvhNoteOrBelowOneMegabyteIsRefused) {
  auto memory = make_memory(32 * MiB);
  auto no_note = testing::make_elf(0x1000000, 64, false);
  auto result = load_kernel(memory, {no_note, std::nullopt, "", 0});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("PVH"), std::string::npos);
  auto low = testing::make_elf(0x8000, 64, true);
  result = load_kernel(memory, {low, std::nullopt, "", 0});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("below 1 MiB"), std::string::npos);
  auto outside = testing::make_elf(0x4000000, 64, true);  // at 64 MiB, memory is 32 MiB
  result = load_kernel(memory, {outside, std::nullopt, "", 0});
  ASSERT_FALSE(result);
}

}  // namespace
}  // namespace haven::arch::x86
