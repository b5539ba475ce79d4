#include "firmware/boot_media.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "base/sys.h"
#include "base/unique_fd.h"
#include "firmware/el_torito.h"
#include "firmware/medium.h"
#include "unit/firmware/test_media.h"

namespace haven::firmware {
namespace {

using namespace testing;
using Layout = BootMedia::Layout;

TEST(BootMedia, BlankAndEmptyMedia) {
  auto media = inspect(Bytes(1 << 20, 0));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::blank);
  EXPECT_FALSE(media->bios_bootable);
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_EQ(media->description, "blank: its first 64 KiB are all zeros");
  EXPECT_EQ(why_not_bootable(*media, "bios"), "it is blank (all zeros)");
  media = inspect(Bytes{});
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::blank);
  EXPECT_EQ(why_not_bootable(*media, "uefi"), "it is empty (0 bytes)");
}

TEST(BootMedia, MbrWithBootCodeBootsUnderBios) {
  auto media = inspect(make_mbr_disk(1 << 20, {{0x83, 2048, 0, true}, {0x82, 64, 1024}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::mbr);
  EXPECT_TRUE(media->bios_bootable);
  EXPECT_FALSE(media->uefi_bootable);
  // The 0x83 entry has size 0: unused, as EDK2 and Linux treat it.
  EXPECT_EQ(media->description,
            "MBR disk with boot code, partition 2: type 0x82 at 32 KiB "
            "(512 KiB)");
  EXPECT_EQ(why_not_bootable(*media, "uefi"), "it has no EFI system partition");
}

TEST(BootMedia, NewDiskWithoutBootLoader) {
  // Not blank (a stray byte), but no signature: the example in the header.
  auto media = inspect(make_mbr_disk(1 << 20, {}, true, false));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::unknown);
  EXPECT_EQ(why_not_bootable(*media, "bios"),
            "its MBR has no boot signature and it has no EFI system partition");
  EXPECT_EQ(why_not_bootable(*media, "uefi"),
            "it has no EFI system partition and its MBR has no boot signature");
}

TEST(BootMedia, SignatureWithoutBootCode) {
  auto media = inspect(make_mbr_disk(1 << 20, {{0x83, 2048, 8192, true}}, false));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::mbr);
  EXPECT_FALSE(media->bios_bootable);
  EXPECT_EQ(media->bios_problems, std::vector<std::string>{"its MBR has no boot code"});
  EXPECT_NE(media->description.find("without boot code"), std::string::npos);
}

TEST(BootMedia, MbrEfiSystemPartition) {
  auto media = inspect(make_mbr_disk(8 << 20, {{0xEF, 2048, 4096}, {0x83, 6144, 10240}}, false));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_TRUE(media->uefi_bootable);
  EXPECT_FALSE(media->bios_bootable);
  EXPECT_EQ(media->description,
            "MBR disk without boot code, partitions 1: EFI system partition at 1 MiB (2 MiB), 2: "
            "type 0x83 at 3 MiB (5 MiB)");
  // The BIOS reason alone: the disk boots under UEFI.
  EXPECT_EQ(why_not_bootable(*media, "bios"), "its MBR has no boot code");
}

TEST(BootMedia, AnInvalidMbrTableHidesItsEsp) {
  auto media = inspect(make_mbr_disk(1 << 20, {{0xEF, 2048, 4096}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_EQ(why_not_bootable(*media, "uefi"),
            "its MBR partition table is invalid (partition 1 extends past the end of the disk)");
  media = inspect(make_mbr_disk(8 << 20, {{0xEF, 2048, 4096}, {0x83, 4096, 4096}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_NE(media->description.find("partitions 1 and 2 overlap"), std::string::npos);
}

TEST(BootMedia, FatFloppyBootSectorIsNotAPartitionTable) {
  for (bool code_at_table : {true, false}) {
    auto media = inspect(make_fat_floppy(64 * 1024, code_at_table));
    ASSERT_TRUE(media) << media.error().message();
    EXPECT_EQ(media->layout, Layout::mbr);
    EXPECT_TRUE(media->bios_bootable);
    EXPECT_FALSE(media->uefi_bootable);
    EXPECT_EQ(media->description,
              "floppy/superfloppy boot sector (FAT12, no partition table) with boot code");
    EXPECT_EQ(why_not_bootable(*media, "uefi"), "it has no EFI system partition");
  }
}

TEST(BootMedia, BootSectorWithoutTableOrBpb) {
  auto disk = make_mbr_disk(4096, {});
  disk[446] = 0x13;  // a boot indicator no partition table has
  auto media = inspect(disk);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::mbr);
  EXPECT_TRUE(media->bios_bootable);
  EXPECT_EQ(media->description, "boot sector without a partition table with boot code");
}

TEST(BootMedia, TooSmallForABootSector) {
  auto media = inspect(Bytes(100, 0x11));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::unknown);
  EXPECT_EQ(why_not_bootable(*media, "bios"), "it is too small (100 bytes) to hold a boot sector");
}

TEST(BootMedia, ReadErrorsAndBadSectorSizesAreErrors) {
  ReadAt failing = [](uint64_t, std::span<uint8_t>) -> Result<void> {
    return make_error("read at 0: Input/output error");
  };
  auto media = inspect_boot_media(failing, 1 << 20);
  ASSERT_FALSE(media);
  EXPECT_EQ(media.error().message(), "read at 0: Input/output error");
  Bytes disk = make_mbr_disk(1 << 20, {});
  for (uint32_t size : {0u, 256u, 768u, 8192u}) {
    auto bad = inspect(disk, size);
    ASSERT_FALSE(bad) << size;
    EXPECT_NE(bad.error().message().find("sector size"), std::string::npos);
  }
}

// The net under every parser: a range past the end never reaches the ReadAt, even when its
// end wraps around 2^64.
TEST(Medium, RefusesRangesPastTheEndBeforeReading) {
  size_t calls = 0;
  ReadAt counting = [&calls](uint64_t, std::span<uint8_t>) -> Result<void> {
    ++calls;
    return {};
  };
  Medium medium(counting, 4096);
  uint8_t buffer[16];
  EXPECT_TRUE(medium.read(4080, buffer));
  EXPECT_TRUE(medium.read(4096, std::span(buffer).first(0)));
  EXPECT_EQ(calls, 1u + 1u);
  for (uint64_t offset : {uint64_t{4081}, uint64_t{4096}, ~uint64_t{0} - 8, ~uint64_t{0}}) {
    auto result = medium.read(offset, buffer);
    ASSERT_FALSE(result) << offset;
    EXPECT_NE(result.error().message().find("past the end of the 4096-byte medium"),
              std::string::npos);
  }
  EXPECT_EQ(calls, 2u);
  EXPECT_FALSE(medium.contains(~uint64_t{0} - 8, 16));
  EXPECT_TRUE(medium.contains(0, 4096));
}

TEST(BootMedia, WhyNotBootable) {
  BootMedia both{Layout::iso9660, true, true, "", {}, {}};
  EXPECT_EQ(why_not_bootable(both, "bios"), "");
  EXPECT_EQ(why_not_bootable(both, "uefi"), "");
  EXPECT_EQ(why_not_bootable(both, "coreboot"),
            "Haven knows no firmware \"coreboot\" (bios or uefi)");
  BootMedia none{Layout::unknown, false, false, "", {"a", "b"}, {"c", "a"}};
  EXPECT_EQ(why_not_bootable(none, "bios"), "a, b and c");
  EXPECT_EQ(why_not_bootable(none, "uefi"), "c, a and b");
  none.bios_bootable = true;
  EXPECT_EQ(why_not_bootable(none, "uefi"), "c and a");
}

// Every prefix of every synthetic medium: inspection succeeds (damage is a finding, not an
// error) and never asks the reader for bytes past the end.
TEST(BootMedia, TruncatedMediaAreFindingsNotErrors) {
  std::vector<Bytes> media = {
      make_iso({{kPlatformX86}, {kPlatformEfi, 0, true, 21}}),
      make_gpt_disk(256, {{kEfiSystemPartition, 34, 100}}),
      make_fat_floppy(),
      make_mbr_disk(8192, {{0xEF, 2, 8}}),
  };
  for (const Bytes& full : media) {
    for (size_t size = 0; size <= full.size(); size += size < 1024 ? 1 : 509) {
      Bytes cut(full.begin(), full.begin() + static_cast<long>(size));
      MemoryReader reader(cut);
      auto result = inspect_boot_media(reader.reader(), cut.size());
      ASSERT_TRUE(result) << "at " << size << ": " << result.error().message();
      EXPECT_FALSE(result->description.empty());
      EXPECT_EQ(result->description.find('\n'), std::string::npos);
      EXPECT_EQ(result->bios_bootable, result->bios_problems.empty()) << size;
      EXPECT_EQ(result->uefi_bootable, result->uefi_problems.empty()) << size;
    }
  }
}

class BootMediaFile : public ::testing::Test {
 protected:
  void SetUp() override {
    m_path = ::testing::TempDir() + "haven-boot-media-XXXXXX";
    int fd = ::mkstemp(m_path.data());
    ASSERT_GE(fd, 0);
    UniqueFd owned(fd);
    Bytes gpt = make_gpt_disk(2048, {{kEfiSystemPartition, 34, 1000}});
    ASSERT_TRUE(sys::write_all(owned.get(), gpt));
  }
  void TearDown() override { ::unlink(m_path.c_str()); }
  std::string m_path;
};

TEST_F(BootMediaFile, InspectsARegularFile) {
  auto media = inspect_boot_media_file(m_path);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::gpt);
  EXPECT_TRUE(media->uefi_bootable);
  auto missing = inspect_boot_media_file(m_path + "-missing");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find(m_path + "-missing"), std::string::npos);
  auto directory = inspect_boot_media_file(::testing::TempDir());
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message().find("not a regular file or a block device"),
            std::string::npos);
}

// Real media where this machine has them (Debian's memtest86+ package; tests/guests' images).
TEST(BootMediaReal, Memtest86PlusIso) {
  const std::string path = "/usr/lib/memtest86+/memtest86+x64.iso";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent (package memtest86+)";
  auto media = inspect_boot_media_file(path);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::iso9660);
  EXPECT_TRUE(media->bios_bootable);
  EXPECT_TRUE(media->uefi_bootable);
  // Its catalog: a BIOS floppy-emulation default entry, then an EFI section. It is a hybrid
  // as well: an MBR with boot code and an EFI system partition.
  EXPECT_NE(media->description.find("El Torito: x86 1.44 MB floppy emulation, EFI no emulation"),
            std::string::npos)
      << media->description;
  EXPECT_NE(media->description.find("hybrid: MBR disk with boot code"), std::string::npos)
      << media->description;
  EXPECT_NE(media->description.find("EFI system partition"), std::string::npos);
}

TEST(BootMediaReal, FreeDosFloppy) {
  const std::string path = "/work/shared/guests/freedos.img";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent (tests/guests data)";
  auto media = inspect_boot_media_file(path);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, Layout::mbr);
  EXPECT_TRUE(media->bios_bootable);
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_EQ(media->description,
            "floppy/superfloppy boot sector (FAT12, no partition table) with boot code");
}

}  // namespace
}  // namespace haven::firmware
