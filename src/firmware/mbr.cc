#include "firmware/mbr.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "base/units.h"
#include "firmware/medium.h"

namespace haven::firmware {
namespace {

constexpr size_t kBootCodeSize = 440;  // then the disk signature, then the table at 446
constexpr size_t kTableOffset = 446;
constexpr size_t kEntrySize = 16;

// A BIOS parameter block as FAT's boot sector carries it (Microsoft's FAT specification,
// "Boot Sector and BPB"): a jump, then sane geometry. Linux's msdos partition code accepts such
// a sector as a FAT volume rather than a partition table when its boot indicators are not
// 0x00/0x80 (block/partitions/msdos.c); a floppy's boot code lies where the table would be.
bool looks_like_fat_bpb(std::span<const uint8_t, kBootSectorSize> s) {
  bool jump = (s[0] == 0xEB && s[2] == 0x90) || s[0] == 0xE9;
  uint16_t bytes_per_sector = load_le<uint16_t>(s, 11);
  uint8_t sectors_per_cluster = s[13];
  uint16_t reserved_sectors = load_le<uint16_t>(s, 14);
  uint8_t fats = s[16];
  uint8_t media = s[21];
  return jump && bytes_per_sector >= 512 && bytes_per_sector <= 4096 &&
         std::has_single_bit(bytes_per_sector) && std::has_single_bit(sectors_per_cluster) &&
         reserved_sectors >= 1 && (fats == 1 || fats == 2) && (media == 0xF0 || media >= 0xF8);
}

// The file system type label: "FAT12   " at 0x36 (FAT12/16), "FAT32   " at 0x52 (FAT32).
std::string fat_name(std::span<const uint8_t, kBootSectorSize> s) {
  for (size_t offset : {size_t{0x52}, size_t{0x36}}) {
    std::string label(reinterpret_cast<const char*>(s.data() + offset), 8);
    if (!label.starts_with("FAT")) continue;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
      continue;
    label.erase(label.find_last_not_of(' ') + 1);
    return label;
  }
  return "FAT";
}

// EDK2's PartitionValidMbr (PartitionDxe/Mbr.c) refuses the whole table when a used partition
// reaches past the last sector or two overlap, so OVMF then sees no partitions at all.
std::string table_problem(const std::vector<MbrPartition>& partitions, uint64_t disk_sectors) {
  for (const MbrPartition& p : partitions) {
    if (uint64_t{p.first_lba} + p.sectors > disk_sectors)
      return fmt::format("partition {} extends past the end of the disk", p.number);
  }
  for (size_t i = 0; i < partitions.size(); ++i) {
    for (size_t j = i + 1; j < partitions.size(); ++j) {
      const MbrPartition& a = partitions[i];
      const MbrPartition& b = partitions[j];
      if (uint64_t{a.first_lba} < uint64_t{b.first_lba} + b.sectors &&
          uint64_t{b.first_lba} < uint64_t{a.first_lba} + a.sectors)
        return fmt::format("partitions {} and {} overlap", a.number, b.number);
    }
  }
  return "";
}

}  // namespace

BootSector parse_boot_sector(std::span<const uint8_t, kBootSectorSize> sector,
                             uint64_t disk_sectors) {
  BootSector boot;
  boot.signature = sector[510] == 0x55 && sector[511] == 0xAA;
  auto code = sector.first<kBootCodeSize>();
  boot.boot_code = std::any_of(code.begin(), code.end(), [](uint8_t b) { return b != 0; });
  if (!boot.signature) return boot;

  boot.has_table = true;
  std::vector<MbrPartition> partitions;
  for (int i = 0; i < 4; ++i) {
    auto entry = sector.subspan(kTableOffset + static_cast<size_t>(i) * kEntrySize, kEntrySize);
    if (entry[0] != 0x00 && entry[0] != 0x80) boot.has_table = false;
    MbrPartition p{i + 1, entry[4], entry[0] == 0x80, load_le<uint32_t>(entry, 8),
                   load_le<uint32_t>(entry, 12)};
    // Type 0 marks an unused entry whatever its other bytes say (hybrid ISOs leave an active,
    // typeless entry at sector 0); EDK2 also skips entries of size 0.
    if (p.type != 0 && p.sectors != 0) partitions.push_back(p);
  }
  if (looks_like_fat_bpb(sector) && (!boot.has_table || partitions.empty())) {
    boot.fat = fat_name(sector);
    boot.has_table = false;
  }
  if (!boot.has_table) return boot;

  boot.partitions = std::move(partitions);
  // UEFI 2.10 §5.2.3: the protective entry starts at LBA 1; EDK2 and Linux both require that.
  boot.protective = std::any_of(boot.partitions.begin(), boot.partitions.end(), [](auto& p) {
    return p.type == kMbrTypeProtective && p.first_lba == 1;
  });
  boot.table_problem = table_problem(boot.partitions, disk_sectors);
  return boot;
}

std::string describe_mbr_partitions(const BootSector& boot, uint32_t sector_size) {
  std::string text;
  for (const MbrPartition& p : boot.partitions) {
    std::string kind = p.type == kMbrTypeEfiSystem    ? "EFI system partition"
                       : p.type == kMbrTypeProtective ? "GPT protective"
                                                      : fmt::format("type {:#04x}", p.type);
    text += fmt::format("{}{}: {} at {} ({}){}", text.empty() ? "" : ", ", p.number, kind,
                        format_size(uint64_t{p.first_lba} * sector_size),
                        format_size(uint64_t{p.sectors} * sector_size), p.active ? " active" : "");
  }
  return text;
}

}  // namespace haven::firmware
