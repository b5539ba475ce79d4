#include "firmware/gpt.h"

#include <gtest/gtest.h>

#include <string>

#include "firmware/crc32.h"
#include "unit/firmware/test_media.h"

namespace haven::firmware {
namespace {

using namespace testing;

std::span<const uint8_t> text_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TEST(Crc32, MatchesTheIeeeCheckValues) {
  EXPECT_EQ(crc32(text_bytes("123456789")), 0xCBF43926u);  // the catalogue's check value
  EXPECT_EQ(crc32(text_bytes("")), 0u);
  EXPECT_EQ(crc32(text_bytes("The quick brown fox jumps over the lazy dog")), 0x414FA339u);
  // Continuing over a second part gives the CRC of the whole.
  EXPECT_EQ(crc32(text_bytes("6789"), crc32(text_bytes("12345"))), 0xCBF43926u);
}

TEST(Gpt, GuidsAreStoredMixedEndian) {
  // UEFI 2.10 Appendix A, and what `sgdisk` writes for an EFI system partition.
  const DiskGuid esp = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
                        0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};
  EXPECT_EQ(kEfiSystemPartition, esp);
  std::string bios_boot(kBiosBootPartition.begin(), kBiosBootPartition.end());
  EXPECT_EQ(bios_boot, "Hah!IdontNeedEFI");
}

// 8 MiB of 512-byte sectors: ESP at 1 MiB (4 MiB), a Linux partition, a BIOS boot partition.
Bytes typical_gpt(bool boot_code = false) {
  return make_gpt_disk(16384,
                       {{kEfiSystemPartition, 2048, 10239},
                        {kLinuxFilesystem, 10240, 16000},
                        {kBiosBootPartition, 34, 2047}},
                       512, boot_code);
}

TEST(Gpt, FindsTheEfiSystemPartition) {
  auto media = inspect(typical_gpt());
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, BootMedia::Layout::gpt);
  EXPECT_TRUE(media->uefi_bootable);
  EXPECT_FALSE(media->bios_bootable);
  EXPECT_EQ(media->description,
            "GPT disk with 3 partitions, EFI system partition at 1 MiB (4 MiB), BIOS boot "
            "partition at 17 KiB (1007 KiB), no boot code in the protective MBR");
  EXPECT_EQ(why_not_bootable(*media, "uefi"), "");
  EXPECT_EQ(why_not_bootable(*media, "bios"), "its protective MBR has no boot code");
}

TEST(Gpt, BootCodeInTheProtectiveMbrBootsUnderBios) {
  auto media = inspect(typical_gpt(true));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_TRUE(media->bios_bootable);
  EXPECT_TRUE(media->uefi_bootable);
  EXPECT_NE(media->description.find("BIOS boot code in the protective MBR"), std::string::npos);
}

TEST(Gpt, WithoutAnEspItDoesNotBootUnderUefi) {
  auto media = inspect(make_gpt_disk(4096, {{kLinuxFilesystem, 34, 4000}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_EQ(why_not_bootable(*media, "uefi"),
            "its GPT has no EFI system partition and its protective MBR has no boot code");
}

TEST(Gpt, DamagedPrimaryHeaderFallsBackToTheBackup) {
  auto disk = typical_gpt();
  disk[512 + 60] ^= 0x01;  // inside the header's CRC range: the disk GUID
  auto media = inspect(disk);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_TRUE(media->uefi_bootable);
  EXPECT_NE(media->description.find("primary header damaged (fails its CRC32 check), read the "
                                    "backup"),
            std::string::npos)
      << media->description;
}

TEST(Gpt, DamagedPrimaryEntryArrayFallsBackToTheBackup) {
  auto disk = typical_gpt();
  disk[2 * 512 + 40] ^= 0x10;  // the ESP's last LBA in the primary array
  auto media = inspect(disk);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_TRUE(media->uefi_bootable);
  EXPECT_NE(media->description.find("partition entries that fail their CRC32"), std::string::npos)
      << media->description;
}

TEST(Gpt, BothHeadersDamagedIsSaidSo) {
  auto disk = typical_gpt();
  disk[512] = 'X';                    // primary: no signature
  disk[disk.size() - 512 + 24] ^= 1;  // backup: MyLBA changed, CRC now wrong
  auto media = inspect(disk);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, BootMedia::Layout::gpt);
  EXPECT_FALSE(media->uefi_bootable);
  ASSERT_EQ(media->uefi_problems.size(), 1u);
  EXPECT_EQ(media->uefi_problems[0],
            "both its GPT headers are damaged (the primary has no \"EFI PART\" signature, the "
            "backup fails its CRC32 check)");
}

TEST(Gpt, AHeaderAtTheWrongLbaIsRefused) {
  auto disk = typical_gpt();
  put_le(disk, 512 + 24, 7, 8);  // MyLBA 7, resealed so only the LBA is wrong
  reseal_gpt_header(disk, 512, 1);
  auto media = inspect(disk);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_NE(media->description.find("says it lies at LBA 7, not 1"), std::string::npos)
      << media->description;
  EXPECT_TRUE(media->uefi_bootable);  // from the backup
}

// Headers whose CRC is right but whose sizes are absurd: refused before anything is read or
// allocated, in both copies.
TEST(Gpt, AbsurdCountsAndSizesAreRefusedWithoutReadingThem) {
  struct Case {
    size_t offset, size;
    uint64_t value;
    const char* expected;
  };
  const Case cases[] = {
      {80, 4, 0xFFFFFFFF, "claims 4294967295 partition entries"},
      {80, 4, 1025, "claims 1025 partition entries"},
      {84, 4, 0xFFFFFFF8, "128 partition entries of 4294967288 bytes, beyond Haven's bound"},
      {84, 4, 129, "partition entry size of 129"},
      {84, 4, 0, "partition entry size of 0"},
      {72, 8, 0xFFFFFFFFFFFFFFF0, "at LBA 18446744073709551600, outside the disk"},
      {72, 8, 1, "at LBA 1, outside the disk"},
      {12, 4, 0xFFFFFFFF, "header size of 4294967295"},
      {48, 8, 1u << 30, "usable LBAs 34..1073741824, outside"},
  };
  for (const Case& c : cases) {
    auto disk = typical_gpt();
    const uint64_t last = disk.size() / 512 - 1;
    for (uint64_t lba : {uint64_t{1}, last}) {
      put_le(disk, lba * 512 + c.offset, c.value, c.size);
      if (c.offset != 12) reseal_gpt_header(disk, 512, lba);
    }
    MemoryReader reader(disk);
    auto media = inspect_boot_media(reader.reader(), disk.size());
    ASSERT_TRUE(media) << media.error().message();
    EXPECT_FALSE(media->uefi_bootable) << c.expected;
    EXPECT_NE(media->description.find(c.expected), std::string::npos) << media->description;
    EXPECT_LE(reader.largest_read, 64u * 1024) << c.expected;
  }
}

TEST(Gpt, FourKibSectors) {
  auto disk = make_gpt_disk(4096, {{kEfiSystemPartition, 256, 2303}}, 4096);
  auto media = inspect(disk, 4096);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_TRUE(media->uefi_bootable);
  EXPECT_NE(media->description.find("EFI system partition at 1 MiB (8 MiB)"), std::string::npos)
      << media->description;
  // Read with the wrong sector size, the header is not where LBA 1 is.
  auto wrong = inspect(disk, 512);
  ASSERT_TRUE(wrong);
  EXPECT_FALSE(wrong->uefi_bootable);
}

TEST(Gpt, AnEspOutsideTheUsableSectorsDoesNotCount) {
  auto media = inspect(make_gpt_disk(4096, {{kEfiSystemPartition, 34, 4095}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_EQ(media->uefi_problems.at(0),
            "its EFI system partition 1 lies outside the usable sectors");
}

// EDK2 and Linux take an 0xEE entry as protective only when it starts at LBA 1.
TEST(Gpt, AProtectiveEntryElsewhereIsJustAnMbrPartition) {
  auto disk = typical_gpt();
  put_le(disk, 446 + 8, 2, 4);
  auto media = inspect(disk);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, BootMedia::Layout::mbr);
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_NE(media->description.find("partition 1: GPT protective at 1 KiB"), std::string::npos)
      << media->description;
  EXPECT_EQ(media->uefi_problems.at(0), "its GPT lacks the protective MBR firmware requires");
}

TEST(Gpt, WithoutItsProtectiveMbrFirmwareIgnoresIt) {
  auto disk = typical_gpt();
  std::fill_n(disk.begin(), 512, uint8_t{0});
  auto media = inspect(disk);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, BootMedia::Layout::unknown);
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_EQ(why_not_bootable(*media, "uefi"),
            "its GPT lacks the protective MBR firmware requires and its MBR has no boot signature");
}

}  // namespace
}  // namespace haven::firmware
