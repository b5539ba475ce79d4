#pragma once

// Internal to src/firmware: the GUID partition table (UEFI 2.10 §5.3).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "firmware/medium.h"

namespace haven::firmware {

using DiskGuid = std::array<uint8_t, 16>;

// A GUID as it lies on disk (UEFI 2.10 Appendix A): the first three fields little-endian, the
// last two bytes in order, so "C12A7328-F81F-..." is stored 28 73 2A C1 1F F8 ...
consteval DiskGuid disk_guid(std::string_view text) {
  auto nibble = [](char c) -> uint8_t {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    throw "not a hex digit";  // a compile error: consteval
  };
  std::array<uint8_t, 16> in_order{};
  size_t count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '-') continue;
    if (count == 16 || i + 1 >= text.size()) throw "not a GUID";
    in_order[count++] = static_cast<uint8_t>(nibble(text[i]) << 4 | nibble(text[i + 1]));
    ++i;
  }
  if (count != 16) throw "not a GUID";
  const auto& g = in_order;
  return {g[3], g[2], g[1],  g[0],  g[5],  g[4],  g[7],  g[6],
          g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]};
}

inline constexpr DiskGuid kEfiSystemPartition = disk_guid("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
// GRUB's core image for BIOS boot from a GPT disk ("Hah!IdontNeedEFI").
inline constexpr DiskGuid kBiosBootPartition = disk_guid("21686148-6449-6E6F-744E-656564454649");

// Bounds on what a header may make Haven read: the usual table is 128 entries of 128 bytes.
inline constexpr uint32_t kMaxGptEntries = 1024;
inline constexpr uint64_t kMaxGptEntryBytes = 1024 * 1024;

struct GptPartition {
  uint32_t number;  // the entry's index + 1, as fdisk shows it
  uint64_t first_lba, last_lba;
  bool usable;  // inside the header's usable LBAs (EDK2 ignores it otherwise)
};

struct Gpt {
  bool valid = false;           // a header and entry array that pass every check
  bool from_backup = false;     // the primary failed; these come from the backup at the last LBA
  std::string primary_problem;  // why the primary was not used; empty when it was
  std::string backup_problem;   // why the backup was not used either, when it was tried
  uint32_t used_entries = 0;
  std::vector<GptPartition> efi_system, bios_boot;
};

// Reads the GPT of a disk whose sector 0 is a protective MBR: the primary header at LBA 1, or
// the backup at the last LBA when the primary is damaged (UEFI 2.10 §5.3.2). Fails only when a
// read fails.
Result<Gpt> read_gpt(const Medium& medium, uint32_t sector_size);

// Whether the sector at LBA 1 starts with "EFI PART" (a GPT that may lack its protective MBR).
bool has_gpt_signature(std::span<const uint8_t> lba1);

}  // namespace haven::firmware
