#include "firmware/el_torito.h"

#include <gtest/gtest.h>

#include "unit/firmware/test_media.h"

namespace haven::firmware {
namespace {

using namespace testing;

constexpr size_t kCatalog = kCatalogSector * kCd;

Result<Iso9660> read_iso(const Bytes& iso) {
  MemoryReader reader(iso);
  ReadAt read = reader.reader();
  Medium medium(read, iso.size());
  return read_iso9660(medium, std::span(iso).first(std::min<size_t>(iso.size(), 64 * 1024)));
}

TEST(ElTorito, BiosOnly) {
  auto media = inspect(make_iso({{kPlatformX86}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, BootMedia::Layout::iso9660);
  EXPECT_TRUE(media->bios_bootable);
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_EQ(media->description, "ISO 9660 image, El Torito: x86 no emulation");
  EXPECT_EQ(why_not_bootable(*media, "uefi"), "its El Torito catalog has no UEFI entry");
  EXPECT_EQ(why_not_bootable(*media, "bios"), "");
}

TEST(ElTorito, UefiOnly) {
  auto media = inspect(make_iso({{kPlatformEfi}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->bios_bootable);
  EXPECT_TRUE(media->uefi_bootable);
  // SeaBIOS boots only an x86 default entry.
  EXPECT_EQ(why_not_bootable(*media, "bios"), "its El Torito default entry is for EFI, not x86");
}

TEST(ElTorito, BiosAndUefi) {
  auto media = inspect(make_iso({{kPlatformX86, 2}, {kPlatformEfi, 0, true, 21}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_TRUE(media->bios_bootable);
  EXPECT_TRUE(media->uefi_bootable);
  EXPECT_EQ(media->description,
            "ISO 9660 image, El Torito: x86 1.44 MB floppy emulation, EFI no emulation");
}

TEST(ElTorito, AnX86EntryOutsideTheDefaultDoesNotBootUnderBios) {
  auto media = inspect(make_iso({{kPlatformEfi}, {kPlatformX86}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->bios_bootable);
  EXPECT_TRUE(media->uefi_bootable);
}

TEST(ElTorito, BadValidationChecksumFailsUefiOnly) {
  auto iso = make_iso({{kPlatformX86}, {kPlatformEfi, 0, true, 21}});
  iso[kCatalog + 0x1C] ^= 0x01;
  auto media = inspect(iso);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_TRUE(media->bios_bootable);   // SeaBIOS checks header and key bytes, not the sum
  EXPECT_FALSE(media->uefi_bootable);  // EDK2 skips the catalog
  EXPECT_EQ(why_not_bootable(*media, "uefi"),
            "its El Torito validation entry has a wrong checksum");
  EXPECT_NE(media->description.find("validation entry checksum wrong"), std::string::npos);
}

TEST(ElTorito, CatalogPastTheEnd) {
  auto iso = make_iso({{kPlatformX86}, {kPlatformEfi}});
  put_le(iso, 17 * kCd + 0x47, 0xFFFFFFFF, 4);
  auto media = inspect(iso);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->bios_bootable);
  EXPECT_FALSE(media->uefi_bootable);
  // Both firmwares fail for the same reason: said once.
  EXPECT_EQ(why_not_bootable(*media, "bios"),
            "its El Torito boot catalog at sector 4294967295 lies past the end of the image");
  // A catalog whose first sector is cut short by the end of the image: only what is there.
  iso = make_iso({{kPlatformX86}}, 20);
  iso.resize(kCatalog + 40);
  media = inspect(iso);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_NE(media->description.find("past the end"), std::string::npos) << media->description;
}

TEST(ElTorito, NoValidationEntry) {
  auto iso = make_iso({{kPlatformX86}});
  iso[kCatalog + 0x1F] = 0;
  auto media = inspect(iso);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->bios_bootable);
  EXPECT_EQ(media->description,
            "ISO 9660 image, El Torito boot catalog has no validation entry (header ID 1, key "
            "bytes 55 AA)");
}

TEST(ElTorito, IsoWithoutBootRecord) {
  auto media = inspect(make_iso({{kPlatformX86}}, 24, false));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, BootMedia::Layout::iso9660);
  EXPECT_EQ(media->description, "ISO 9660 image, no El Torito boot record");
  EXPECT_EQ(why_not_bootable(*media, "bios"), "it has no El Torito boot record");
  // The boot record's identifier must end in a NUL: SeaBIOS compares it with strcmp.
  auto iso = make_iso({{kPlatformX86}});
  iso[17 * kCd + 7 + 23] = ' ';
  media = inspect(iso);
  ASSERT_TRUE(media);
  EXPECT_FALSE(media->bios_bootable);
}

TEST(ElTorito, DefaultEntryNotBootableOrPastTheEnd) {
  auto media = inspect(make_iso({{kPlatformX86, 0, false}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->bios_problems.at(0), "its El Torito default entry is not marked bootable");
  media = inspect(make_iso({{kPlatformX86, 0, true, 5000}}));
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->bios_problems.at(0),
            "its El Torito default entry's boot image lies past the end");
  EXPECT_NE(media->description.find("(image past the end)"), std::string::npos);
  media = inspect(make_iso({{kPlatformEfi, 0, true, 0}}));  // EDK2 skips load RBA 0
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->uefi_bootable);
}

TEST(ElTorito, ExtensionRecordsAreSkipped) {
  auto iso = make_iso({{kPlatformX86}});
  size_t at = kCatalog + 64;
  iso[at] = 0x91;  // one final section, two entries; the first followed by two extensions
  iso[at + 1] = kPlatformEfi;
  put_le(iso, at + 2, 2, 2);
  write_catalog_entry(iso, at + 32, {kPlatformEfi, 0, false, 21});
  iso[at + 33] |= 0x20;
  iso[at + 64] = 0x44;
  iso[at + 65] = 0x20;  // more follow
  iso[at + 96] = 0x44;
  write_catalog_entry(iso, at + 128, {kPlatformEfi, 0, true, 22});
  auto parsed = read_iso(iso);
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->entries.size(), 3u);
  EXPECT_EQ(parsed->entries[2].load_rba, 22u);
  auto media = inspect(iso);
  ASSERT_TRUE(media);
  EXPECT_TRUE(media->uefi_bootable);
}

TEST(ElTorito, TheWalkStopsWithinOneCatalogSector) {
  auto iso = make_iso({{kPlatformX86}}, 24);
  // A section header claiming 65535 entries, and bootable entries filling the rest of the
  // catalog's sector and the sector after it.
  iso[kCatalog + 64] = 0x91;
  put_le(iso, kCatalog + 66, 0xFFFF, 2);
  for (size_t at = kCatalog + 96; at < kCatalog + 2 * kCd; at += 32)
    write_catalog_entry(iso, at, {kPlatformX86, 0, true, 20});
  auto parsed = read_iso(iso);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->entries.size(), 1u + 61u);  // validation, default, header: 61 records left
  auto media = inspect(iso);
  ASSERT_TRUE(media);
  EXPECT_NE(media->description.find("and 54 more"), std::string::npos) << media->description;
}

TEST(ElTorito, SectionHeadersEndTheWalkWhenMalformed) {
  auto iso = make_iso({{kPlatformX86}, {kPlatformEfi}});
  iso[kCatalog + 64] = 0x90;  // "more headers follow", then garbage
  iso[kCatalog + 128] = 0x77;
  auto parsed = read_iso(iso);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->entries.size(), 2u);
}

TEST(ElTorito, HybridIsoReportsBothAspects) {
  // BIOS through El Torito; UEFI through an EFI system partition in the MBR (isohybrid style,
  // with the active typeless entry over sector 0 that memtest86+'s ISO has).
  auto iso = make_iso({{kPlatformX86}}, 32);
  write_mbr(iso, {{0x00, 0, 64, true}, {0xEF, 80, 16}});
  auto media = inspect(iso);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_EQ(media->layout, BootMedia::Layout::iso9660);
  EXPECT_TRUE(media->bios_bootable);
  EXPECT_TRUE(media->uefi_bootable);
  EXPECT_EQ(media->description,
            "ISO 9660 image, El Torito: x86 no emulation; hybrid: MBR disk with boot code, "
            "partition 2: EFI system partition at 40 KiB (8 KiB)");
  // The same hybrid with an ESP that runs past the image: OVMF drops the whole table.
  write_mbr(iso, {{0xEF, 80, 1u << 20}}, false);
  media = inspect(iso);
  ASSERT_TRUE(media) << media.error().message();
  EXPECT_FALSE(media->uefi_bootable);
  EXPECT_EQ(why_not_bootable(*media, "uefi"),
            "its El Torito catalog has no UEFI entry and its MBR partition table is invalid "
            "(partition 1 extends past the end of the disk)");
}

}  // namespace
}  // namespace haven::firmware
