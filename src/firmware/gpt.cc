#include "firmware/gpt.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "base/units.h"
#include "firmware/crc32.h"

namespace haven::firmware {
namespace {

constexpr char kSignature[] = "EFI PART";
constexpr uint32_t kMinHeaderSize = 92;  // the fields UEFI 2.10 Table 5.5 defines
constexpr uint32_t kMinEntrySize = 128;

struct Header {
  uint64_t first_usable, last_usable, entries_lba;
  uint32_t entry_count, entry_size;
};

// One copy of the table, primary or backup: `problem` says why it is not valid.
struct Copy {
  std::string problem;
  Header header{};
  std::vector<uint8_t> entries;
};

// The checks of UEFI 2.10 §5.3.2 ("GPT Header"): signature, header CRC32 (over HeaderSize
// bytes, with the CRC field zeroed), MyLBA, then the entry array's CRC32; plus EDK2's bounds on
// HeaderSize and SizeOfPartitionEntry, and Haven's on the array, whose size the disk chooses.
// The caller passes an `lba` inside the disk.
Result<Copy> read_copy(const Medium& medium, uint32_t sector_size, uint64_t lba) {
  Copy copy;
  auto bad = [&copy](std::string problem) {
    copy.problem = std::move(problem);
    return std::move(copy);
  };
  const uint64_t disk_lbas = medium.size() / sector_size;
  std::vector<uint8_t> sector(sector_size);
  TRY(medium.read(lba * sector_size, sector));
  if (!std::equal(sector.begin(), sector.begin() + 8, kSignature))
    return bad("has no \"EFI PART\" signature");
  uint32_t revision = load_le<uint32_t>(sector, 8);
  if (revision >> 16 != 1) return bad(fmt::format("has revision {:#010x}, not 1.x", revision));
  uint32_t header_size = load_le<uint32_t>(sector, 12);
  if (header_size < kMinHeaderSize || header_size > sector_size)
    return bad(fmt::format("gives a header size of {} bytes, outside {}..{}", header_size,
                           kMinHeaderSize, sector_size));
  uint32_t stored_crc = load_le<uint32_t>(sector, 16);
  std::fill_n(sector.begin() + 16, 4, uint8_t{0});
  if (crc32(std::span(sector).first(header_size)) != stored_crc)
    return bad("fails its CRC32 check");
  uint64_t my_lba = load_le<uint64_t>(sector, 24);
  if (my_lba != lba) return bad(fmt::format("says it lies at LBA {}, not {}", my_lba, lba));

  Header& h = copy.header;
  h.first_usable = load_le<uint64_t>(sector, 40);
  h.last_usable = load_le<uint64_t>(sector, 48);
  if (h.first_usable > h.last_usable || h.last_usable >= disk_lbas)
    return bad(fmt::format("gives usable LBAs {}..{}, outside the disk's {} sectors",
                           h.first_usable, h.last_usable, disk_lbas));
  h.entries_lba = load_le<uint64_t>(sector, 72);
  h.entry_count = load_le<uint32_t>(sector, 80);
  h.entry_size = load_le<uint32_t>(sector, 84);
  uint32_t entries_crc = load_le<uint32_t>(sector, 88);
  if (h.entry_size < kMinEntrySize || h.entry_size % 8 != 0)
    return bad(fmt::format("gives a partition entry size of {} bytes, not 128 or more in 8s",
                           h.entry_size));
  uint64_t array_bytes = uint64_t{h.entry_count} * h.entry_size;
  if (h.entry_count > kMaxGptEntries || array_bytes > kMaxGptEntryBytes)
    return bad(
        fmt::format("claims {} partition entries of {} bytes, beyond Haven's bound of {} "
                    "entries in {}",
                    h.entry_count, h.entry_size, kMaxGptEntries, format_size(kMaxGptEntryBytes)));
  // The array may overlap neither the protective MBR nor the primary header, nor leave the disk.
  if (h.entries_lba < 2 || h.entries_lba > disk_lbas ||
      !medium.contains(h.entries_lba * sector_size, array_bytes))
    return bad(fmt::format("places its {} partition entries at LBA {}, outside the disk",
                           h.entry_count, h.entries_lba));
  copy.entries.resize(array_bytes);
  TRY(medium.read(h.entries_lba * sector_size, copy.entries));
  if (crc32(copy.entries) != entries_crc) return bad("has partition entries that fail their CRC32");
  return copy;
}

}  // namespace

bool has_gpt_signature(std::span<const uint8_t> lba1) {
  return lba1.size() >= 8 && std::equal(lba1.begin(), lba1.begin() + 8, kSignature);
}

Result<Gpt> read_gpt(const Medium& medium, uint32_t sector_size) {
  Gpt gpt;
  const uint64_t disk_lbas = medium.size() / sector_size;
  if (disk_lbas < 2) {
    gpt.primary_problem = "lies past the end of the disk";
    gpt.backup_problem = "has no room on a disk this small";
    return gpt;
  }
  Copy copy = TRY(read_copy(medium, sector_size, 1));
  if (!copy.problem.empty()) {
    // UEFI 2.10 §5.3.2: with the primary damaged, the backup header at the last LBA is used.
    gpt.primary_problem = std::move(copy.problem);
    if (disk_lbas - 1 <= 1) {
      gpt.backup_problem = "has no room on a disk this small";
      return gpt;
    }
    copy = TRY(read_copy(medium, sector_size, disk_lbas - 1));
    if (!copy.problem.empty()) {
      gpt.backup_problem = std::move(copy.problem);
      return gpt;
    }
    gpt.from_backup = true;
  }
  gpt.valid = true;
  const Header& h = copy.header;
  auto entries = std::span<const uint8_t>(copy.entries);
  for (uint32_t i = 0; i < h.entry_count; ++i) {
    auto entry = entries.subspan(size_t{i} * h.entry_size, kMinEntrySize);
    DiskGuid type;
    std::memcpy(type.data(), entry.data(), type.size());
    if (type == DiskGuid{}) continue;  // an unused entry
    ++gpt.used_entries;
    GptPartition p{i + 1, load_le<uint64_t>(entry, 32), load_le<uint64_t>(entry, 40), false};
    // EDK2 (PartitionCheckGptEntry) ignores an entry outside the usable LBAs.
    p.usable =
        p.first_lba <= p.last_lba && p.first_lba >= h.first_usable && p.last_lba <= h.last_usable;
    if (type == kEfiSystemPartition) gpt.efi_system.push_back(p);
    if (type == kBiosBootPartition) gpt.bios_boot.push_back(p);
  }
  return gpt;
}

}  // namespace haven::firmware
