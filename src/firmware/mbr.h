#pragma once

// Internal to src/firmware: sector 0 of a disk, as BIOS and UEFI firmware read it.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace haven::firmware {

inline constexpr size_t kBootSectorSize = 512;
inline constexpr uint8_t kMbrTypeEfiSystem = 0xEF;
inline constexpr uint8_t kMbrTypeProtective = 0xEE;

struct MbrPartition {
  int number;  // 1-4
  uint8_t type;
  bool active;  // boot indicator 0x80
  uint32_t first_lba;
  uint32_t sectors;
};

struct BootSector {
  bool signature = false;  // 0x55AA at 510
  bool boot_code = false;  // bytes 0-439 (before the disk signature) not all zero
  // A FAT boot sector (BIOS parameter block) with no partition table: a floppy or a
  // "superfloppy"; the file system's name ("FAT12") or "FAT". Empty when not one.
  std::string fat;
  // The four entries read as a partition table (each boot indicator 0x00 or 0x80).
  bool has_table = false;
  std::vector<MbrPartition> partitions;  // the used entries (type and size not zero)
  bool protective = false;               // an entry of type 0xEE starting at LBA 1: a GPT follows
  // Why OVMF would ignore the table ("partition 2 extends past the end of the disk"), or empty.
  std::string table_problem;
};

// `sector` is the first 512 bytes of a disk of `disk_sectors` sectors (the LBA unit).
BootSector parse_boot_sector(std::span<const uint8_t, kBootSectorSize> sector,
                             uint64_t disk_sectors);

// "type 0x83 at 1 MiB (1023 MiB), active" for descriptions.
std::string describe_mbr_partitions(const BootSector& boot, uint32_t sector_size);

}  // namespace haven::firmware
