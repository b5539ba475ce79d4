#include "firmware/el_torito.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

namespace haven::firmware {
namespace {

// ISO 9660 §8: the volume descriptor set starts at sector 16. El Torito §2.0 fixes the boot
// record volume descriptor at sector 17.
constexpr uint64_t kPrimaryDescriptor = 16 * kCdSectorSize;
constexpr uint64_t kBootRecord = 17 * kCdSectorSize;
constexpr std::string_view kIsoId = "CD001";
constexpr std::string_view kElToritoId = "EL TORITO SPECIFICATION";
constexpr size_t kCatalogPointer = 0x47;

// Catalog records are 32 bytes. OVMF reads one sector of catalog (EDK2 ElTorito.c: 64 records),
// and so does SeaBIOS: what lies beyond it boots under neither, and Haven reads no further.
constexpr size_t kRecordSize = 32;
constexpr size_t kMaxRecords = kCdSectorSize / kRecordSize;
constexpr uint8_t kValidationHeader = 0x01;
constexpr uint8_t kBootable = 0x88;
constexpr uint8_t kNotBootable = 0x00;
constexpr uint8_t kSectionHeader = 0x90;
constexpr uint8_t kFinalSectionHeader = 0x91;
constexpr uint8_t kExtension = 0x44;
constexpr uint8_t kFollowedByExtension = 0x20;  // bit 5 of an entry's media byte (§2.4, §2.5)

bool has_text(std::span<const uint8_t> bytes, size_t offset, std::string_view text) {
  return offset + text.size() <= bytes.size() &&
         std::equal(text.begin(), text.end(), bytes.begin() + static_cast<long>(offset));
}

ElToritoEntry parse_entry(std::span<const uint8_t> record, uint8_t platform, bool is_default,
                          uint64_t image_size) {
  ElToritoEntry entry{platform,
                      record[0] == kBootable,
                      static_cast<uint8_t>(record[1] & 0x0F),
                      load_le<uint32_t>(record, 8),
                      false,
                      is_default};
  entry.in_image = entry.load_rba != 0 && uint64_t{entry.load_rba} * kCdSectorSize < image_size;
  return entry;
}

// The section headers after the default entry, each followed by its entries, which extension
// records may follow. Every step consumes a record, so the walk ends within the sector.
void read_sections(std::span<const uint8_t> catalog, uint64_t image_size,
                   std::vector<ElToritoEntry>& entries) {
  const size_t records = std::min(catalog.size() / kRecordSize, kMaxRecords);
  auto record = [&](size_t i) { return catalog.subspan(i * kRecordSize, kRecordSize); };
  size_t i = 2;
  while (i < records) {
    auto header = record(i++);
    if (header[0] != kSectionHeader && header[0] != kFinalSectionHeader) return;
    uint8_t platform = header[1];
    uint16_t count = load_le<uint16_t>(header, 2);
    for (uint16_t n = 0; n < count && i < records; ++n) {
      auto entry = record(i++);
      if (entry[0] != kBootable && entry[0] != kNotBootable) return;  // not a catalog any more
      if (std::all_of(entry.begin(), entry.end(), [](uint8_t b) { return b == 0; })) continue;
      entries.push_back(parse_entry(entry, platform, false, image_size));
      bool more = entry[1] & kFollowedByExtension;
      while (more && i < records && record(i)[0] == kExtension)
        more = record(i++)[1] & kFollowedByExtension;
    }
    if (header[0] == kFinalSectionHeader) return;
  }
}

std::string media_name(uint8_t media) {
  switch (media) {
    case 0:
      return "no emulation";
    case 1:
      return "1.2 MB floppy emulation";
    case 2:
      return "1.44 MB floppy emulation";
    case 3:
      return "2.88 MB floppy emulation";
    case 4:
      return "hard disk emulation";
    default:
      return fmt::format("media type {}", media);
  }
}

}  // namespace

std::string platform_name(uint8_t platform) {
  switch (platform) {
    case kPlatformX86:
      return "x86";
    case 0x01:
      return "PowerPC";
    case 0x02:
      return "Mac";
    case kPlatformEfi:
      return "EFI";
    default:
      return fmt::format("platform {:#04x}", platform);
  }
}

Result<Iso9660> read_iso9660(const Medium& medium, std::span<const uint8_t> head) {
  Iso9660 iso;
  if (head.size() < kPrimaryDescriptor + kCdSectorSize ||
      !has_text(head, kPrimaryDescriptor + 1, kIsoId))
    return iso;
  iso.present = true;
  if (head.size() < kBootRecord + kCdSectorSize) return iso;
  auto record = head.subspan(kBootRecord, kCdSectorSize);
  // SeaBIOS (cdrom.c) compares "CD001\1EL TORITO SPECIFICATION" with strcmp: type 0, version
  // 1, and the identifier ends in a NUL.
  if (record[0] != 0 || !has_text(record, 1, kIsoId) || record[6] != 1 ||
      !has_text(record, 7, kElToritoId) || record[7 + kElToritoId.size()] != 0)
    return iso;
  iso.el_torito = true;
  iso.catalog_rba = load_le<uint32_t>(record, kCatalogPointer);

  uint64_t offset = uint64_t{iso.catalog_rba} * kCdSectorSize;
  if (!medium.contains(offset, 2 * kRecordSize)) {
    iso.catalog_problem =
        fmt::format("at sector {} lies past the end of the image", iso.catalog_rba);
    return iso;
  }
  std::array<uint8_t, kCdSectorSize> catalog{};
  auto length = static_cast<size_t>(std::min<uint64_t>(kCdSectorSize, medium.size() - offset));
  auto bytes = std::span<uint8_t>(catalog).first(length / kRecordSize * kRecordSize);
  TRY(medium.read(offset, bytes));

  // The validation entry (§2.1): header 1, key bytes 55 AA, and a checksum word that makes the
  // record's 16 little-endian words sum to 0. SeaBIOS checks only the header and key; OVMF
  // also the sum.
  auto validation = std::span<const uint8_t>(bytes).first(kRecordSize);
  if (validation[0] != kValidationHeader || validation[0x1E] != 0x55 || validation[0x1F] != 0xAA) {
    iso.catalog_problem = "has no validation entry (header ID 1, key bytes 55 AA)";
    return iso;
  }
  uint16_t sum = 0;
  for (size_t i = 0; i < kRecordSize; i += 2) sum += load_le<uint16_t>(validation, i);
  iso.checksum_ok = sum == 0;
  // The initial/default entry takes the validation entry's platform (§2.2).
  iso.entries.push_back(
      parse_entry(std::span<const uint8_t>(bytes).subspan(kRecordSize, kRecordSize), validation[1],
                  true, medium.size()));
  read_sections(bytes, medium.size(), iso.entries);
  return iso;
}

std::string describe_el_torito(const Iso9660& iso) {
  if (!iso.el_torito) return "no El Torito boot record";
  if (!iso.catalog_problem.empty()) return "El Torito boot catalog " + iso.catalog_problem;
  std::string text = "El Torito: ";
  constexpr size_t kShown = 8;
  for (size_t i = 0; i < iso.entries.size() && i < kShown; ++i) {
    const ElToritoEntry& entry = iso.entries[i];
    text += fmt::format("{}{} {}{}{}", i ? ", " : "", platform_name(entry.platform),
                        media_name(entry.media), entry.bootable ? "" : " (not bootable)",
                        entry.bootable && !entry.in_image ? " (image past the end)" : "");
  }
  if (iso.entries.size() > kShown) text += fmt::format(" and {} more", iso.entries.size() - kShown);
  if (!iso.checksum_ok) text += ", validation entry checksum wrong";
  return text;
}

}  // namespace haven::firmware
