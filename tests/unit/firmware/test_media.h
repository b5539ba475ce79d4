#pragma once

// Synthetic boot media for the boot-media tests and the fuzz seeds: MBR disks, GPT disks (with
// valid CRCs and a backup), FAT floppies and El Torito ISOs, small enough to build in memory,
// which tests then damage.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "firmware/boot_media.h"
#include "firmware/crc32.h"
#include "firmware/gpt.h"

namespace haven::firmware::testing {

using Bytes = std::vector<uint8_t>;

inline void put_le(Bytes& bytes, size_t offset, uint64_t value, size_t size) {
  for (size_t i = 0; i < size; ++i) bytes.at(offset + i) = static_cast<uint8_t>(value >> (8 * i));
}
inline void put_text(Bytes& bytes, size_t offset, std::string_view text) {
  std::copy(text.begin(), text.end(), bytes.begin() + static_cast<long>(offset));
}

// A ReadAt over `bytes` that fails past their end, as a file would, and counts what it is asked.
struct MemoryReader {
  explicit MemoryReader(const Bytes& data) : bytes(data) {}
  const Bytes& bytes;
  size_t reads = 0;
  size_t largest_read = 0;
  ReadAt reader() {
    return [this](uint64_t offset, std::span<uint8_t> out) -> Result<void> {
      ++reads;
      largest_read = std::max(largest_read, out.size());
      if (offset > bytes.size() || out.size() > bytes.size() - offset)
        return make_error("read past the end: {} bytes at {}", out.size(), offset);
      std::copy_n(bytes.begin() + static_cast<long>(offset), out.size(), out.begin());
      return {};
    };
  }
};

inline Result<BootMedia> inspect(const Bytes& bytes, uint32_t sector_size = 512) {
  MemoryReader reader(bytes);
  return inspect_boot_media(reader.reader(), bytes.size(), sector_size);
}

// ---- MBR ----

struct MbrEntry {
  uint8_t type;
  uint32_t first_lba;
  uint32_t sectors;
  bool active = false;
};

// Writes sector 0: boot code (a recognisable non-zero pattern), the table, the signature.
inline void write_mbr(Bytes& disk, const std::vector<MbrEntry>& entries, bool boot_code = true,
                      bool signature = true) {
  std::fill_n(disk.begin(), 512, uint8_t{0});
  if (boot_code) {
    const uint8_t code[] = {0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBC, 0x00, 0x7C, 0xFB, 0xEB, 0xFE};
    std::copy(std::begin(code), std::end(code), disk.begin());
  }
  for (size_t i = 0; i < entries.size() && i < 4; ++i) {
    size_t at = 446 + 16 * i;
    disk[at] = entries[i].active ? 0x80 : 0x00;
    disk[at + 4] = entries[i].type;
    put_le(disk, at + 8, entries[i].first_lba, 4);
    put_le(disk, at + 12, entries[i].sectors, 4);
  }
  if (signature) {
    disk[510] = 0x55;
    disk[511] = 0xAA;
  }
}

inline Bytes make_mbr_disk(size_t size, const std::vector<MbrEntry>& entries, bool boot_code = true,
                           bool signature = true) {
  Bytes disk(size, 0);
  write_mbr(disk, entries, boot_code, signature);
  return disk;
}

// A 1.44 MB-style FAT12 boot sector (jump, BPB, "FAT12   ", code, 55 AA) on `size` bytes.
// `code_at_table`: boot code runs on over the bytes where a partition table would be.
inline Bytes make_fat_floppy(size_t size = 64 * 1024, bool code_at_table = true) {
  Bytes disk(size, 0);
  const uint8_t start[] = {0xEB, 0x3C, 0x90, 'H', 'A', 'V', 'E', 'N', 'F', 'L', 'P'};
  std::copy(std::begin(start), std::end(start), disk.begin());
  put_le(disk, 11, 512, 2);  // bytes per sector
  disk[13] = 1;              // sectors per cluster
  put_le(disk, 14, 1, 2);    // reserved sectors
  disk[16] = 2;              // FATs
  put_le(disk, 17, 224, 2);  // root entries
  put_le(disk, 19, 2880, 2);
  disk[21] = 0xF0;  // media descriptor
  put_text(disk, 0x36, "FAT12   ");
  size_t code_end = code_at_table ? 510 : 0x1BE;
  // Code bytes that, read as table entries, give boot indicator 0x18 and "partitions" of type
  // 0x5E starting at sector 0x46C68E...: the FreeDOS floppy's pattern.
  for (size_t i = 0x3E; i < code_end; ++i) disk[i] = static_cast<uint8_t>(0x18 + i * 0x46);
  disk[510] = 0x55;
  disk[511] = 0xAA;
  return disk;
}

// ---- GPT ----

struct GptEntry {
  DiskGuid type;
  uint64_t first_lba, last_lba;
};

inline constexpr uint32_t kGptEntries = 128;
inline constexpr uint32_t kGptEntrySize = 128;
inline constexpr DiskGuid kLinuxFilesystem = disk_guid("0FC63DAF-8483-4772-8E79-3D47D8E4DE47");

// Recomputes the CRC32 of the GPT header at `lba` (after a test changed a field).
inline void reseal_gpt_header(Bytes& disk, uint32_t sector_size, uint64_t lba) {
  size_t at = static_cast<size_t>(lba * sector_size);
  uint32_t header_size = 92;
  put_le(disk, at + 16, 0, 4);
  put_le(disk, at + 16, crc32(std::span(disk).subspan(at, header_size)), 4);
}

// A GPT disk of `sectors` sectors: protective MBR (boot code if `boot_code`), primary header at
// LBA 1 with its 128 entries from LBA 2, the backup entries and header at the end; CRCs valid.
inline Bytes make_gpt_disk(uint64_t sectors, const std::vector<GptEntry>& entries,
                           uint32_t sector_size = 512, bool boot_code = false) {
  Bytes disk(sectors * sector_size, 0);
  uint64_t mbr_sectors = std::min<uint64_t>(sectors - 1, 0xFFFFFFFF);
  write_mbr(disk, {{0xEE, 1, static_cast<uint32_t>(mbr_sectors)}}, boot_code);
  const uint64_t array_bytes = uint64_t{kGptEntries} * kGptEntrySize;
  const uint64_t array_sectors = (array_bytes + sector_size - 1) / sector_size;
  const uint64_t last = sectors - 1;
  const uint64_t backup_array = last - array_sectors;
  Bytes array(array_bytes, 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    std::copy(entries[i].type.begin(), entries[i].type.end(), array.begin() + i * kGptEntrySize);
    array[i * kGptEntrySize + 16] = static_cast<uint8_t>(i + 1);  // a unique GUID of sorts
    put_le(array, i * kGptEntrySize + 32, entries[i].first_lba, 8);
    put_le(array, i * kGptEntrySize + 40, entries[i].last_lba, 8);
  }
  uint32_t array_crc = crc32(array);
  auto header = [&](uint64_t lba, uint64_t alternate, uint64_t entries_lba) {
    size_t at = static_cast<size_t>(lba * sector_size);
    put_text(disk, at, "EFI PART");
    put_le(disk, at + 8, 0x00010000, 4);
    put_le(disk, at + 12, 92, 4);
    put_le(disk, at + 24, lba, 8);
    put_le(disk, at + 32, alternate, 8);
    put_le(disk, at + 40, 2 + array_sectors, 8);  // first usable
    put_le(disk, at + 48, backup_array - 1, 8);   // last usable
    disk[at + 56] = 0x42;                         // disk GUID
    put_le(disk, at + 72, entries_lba, 8);
    put_le(disk, at + 80, kGptEntries, 4);
    put_le(disk, at + 84, kGptEntrySize, 4);
    put_le(disk, at + 88, array_crc, 4);
    std::copy(array.begin(), array.end(),
              disk.begin() + static_cast<long>(entries_lba * sector_size));
    reseal_gpt_header(disk, sector_size, lba);
  };
  header(1, last, 2);
  header(last, 1, backup_array);
  return disk;
}

// ---- ISO 9660 / El Torito ----

inline constexpr size_t kCd = 2048;
inline constexpr uint32_t kCatalogSector = 19;

struct IsoEntry {
  uint8_t platform;  // 0 x86, 0xEF EFI
  uint8_t media = 0;
  bool bootable = true;
  uint32_t load_rba = 20;
};

// Makes the validation entry at `catalog` sum to zero (El Torito §2.1).
inline void seal_validation_entry(Bytes& iso, size_t catalog = kCatalogSector * kCd) {
  put_le(iso, catalog + 0x1C, 0, 2);
  uint16_t sum = 0;
  for (size_t i = 0; i < 32; i += 2)
    sum += static_cast<uint16_t>(iso[catalog + i] | iso[catalog + i + 1] << 8);
  put_le(iso, catalog + 0x1C, static_cast<uint16_t>(0x10000 - sum), 2);
}

inline void write_catalog_entry(Bytes& iso, size_t at, const IsoEntry& entry) {
  iso[at] = entry.bootable ? 0x88 : 0x00;
  iso[at + 1] = entry.media;
  put_le(iso, at + 6, entry.media == 0 ? 4 : 1, 2);  // sector count
  put_le(iso, at + 8, entry.load_rba, 4);
}

// An ISO 9660 image of `sectors` 2048-byte sectors: primary volume descriptor at 16, El Torito
// boot record at 17 (unless `el_torito` is false), terminator at 18, the catalog at 19: the
// validation entry takes the first entry's platform, which is the default entry; each further
// entry gets a section of its own.
inline Bytes make_iso(const std::vector<IsoEntry>& entries, size_t sectors = 24,
                      bool el_torito = true) {
  Bytes iso(sectors * kCd, 0);
  iso[16 * kCd] = 1;
  put_text(iso, 16 * kCd + 1, "CD001");
  iso[16 * kCd + 6] = 1;
  put_text(iso, 16 * kCd + 40, "HAVEN_TEST");
  put_le(iso, 16 * kCd + 80, sectors, 4);
  iso[18 * kCd] = 0xFF;
  put_text(iso, 18 * kCd + 1, "CD001");
  iso[18 * kCd + 6] = 1;
  if (!el_torito || entries.empty()) return iso;
  put_text(iso, 17 * kCd + 1, "CD001");
  iso[17 * kCd + 6] = 1;
  put_text(iso, 17 * kCd + 7, "EL TORITO SPECIFICATION");
  put_le(iso, 17 * kCd + 0x47, kCatalogSector, 4);
  const size_t catalog = kCatalogSector * kCd;
  iso[catalog] = 0x01;
  iso[catalog + 1] = entries[0].platform;
  put_text(iso, catalog + 4, "HAVEN");
  iso[catalog + 0x1E] = 0x55;
  iso[catalog + 0x1F] = 0xAA;
  seal_validation_entry(iso, catalog);
  write_catalog_entry(iso, catalog + 32, entries[0]);
  size_t at = catalog + 64;
  for (size_t i = 1; i < entries.size(); ++i, at += 64) {
    iso[at] = i + 1 == entries.size() ? 0x91 : 0x90;
    iso[at + 1] = entries[i].platform;
    put_le(iso, at + 2, 1, 2);
    write_catalog_entry(iso, at + 32, entries[i]);
  }
  return iso;
}

}  // namespace haven::firmware::testing
