#pragma once

// Internal to src/firmware: ISO 9660 volumes and their El Torito boot catalog ("El Torito"
// Bootable CD-ROM Format Specification 1.0, Phoenix/IBM 1995).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "firmware/medium.h"

namespace haven::firmware {

inline constexpr uint64_t kCdSectorSize = 2048;  // ISO 9660 logical blocks, El Torito RBAs
inline constexpr uint8_t kPlatformX86 = 0x00;
inline constexpr uint8_t kPlatformEfi = 0xEF;

struct ElToritoEntry {
  uint8_t platform;  // the validation entry's (default entry) or its section header's
  bool bootable;     // boot indicator 0x88
  uint8_t media;     // 0 no emulation, 1-3 1.2/1.44/2.88 MB floppy, 4 hard disk
  uint32_t load_rba;
  bool in_image;    // load_rba is not 0 and lies inside the image
  bool is_default;  // the initial/default entry, the only one a BIOS boots
};

struct Iso9660 {
  bool present = false;    // a volume descriptor ("CD001") at sector 16
  bool el_torito = false;  // a boot record volume descriptor at sector 17
  uint32_t catalog_rba = 0;
  // Why the catalog gives no entries ("lies past the end of the image"), or empty.
  std::string catalog_problem;
  bool checksum_ok = false;            // the validation entry's 16 words sum to 0
  std::vector<ElToritoEntry> entries;  // the default entry first, then the sections'
};

// `head` is the medium's first bytes (at least 36 KiB of them when there are that many).
// Fails only when a read fails.
Result<Iso9660> read_iso9660(const Medium& medium, std::span<const uint8_t> head);

// "x86 1.44 MB floppy emulation, EFI no emulation" for descriptions.
std::string describe_el_torito(const Iso9660& iso);
std::string platform_name(uint8_t platform);

}  // namespace haven::firmware
