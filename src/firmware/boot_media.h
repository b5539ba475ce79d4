#pragma once

// What a disk or ISO image offers guest firmware to boot, read before the guest starts: a
// firmware that finds nothing to boot sits in its "no bootable device" screen, and the user
// sees a silent hang. With this Haven can say instead, in one line, why a medium cannot boot
// ("disk 0 (new.img) has no boot loader: its MBR has no boot signature and it has no EFI
// system partition").
//
// The rules are the firmware's own: SeaBIOS runs sector 0 of a disk after checking only its
// 0x55AA signature (src/boot.c) and boots a CD only through the El Torito default entry
// (src/cdrom.c); OVMF (EDK2 PartitionDxe) boots from an EFI system partition in a GPT or MBR,
// or from a bootable El Torito entry. What Haven does not look at: the files inside a
// partition (a plain FAT volume holding \EFI\BOOT\BOOTX64.EFI also boots under OVMF, and an
// EFI system partition may be empty), and whether the medium is attached as a CD (SeaBIOS
// uses El Torito only on CD drives).

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace haven::firmware {

// Reads `out.size()` bytes at `offset` of the medium (fails past its end).
using ReadAt = std::function<Result<void>(uint64_t offset, std::span<uint8_t> out)>;

struct BootMedia {
  // mbr: sector 0 is a boot sector with the 0x55AA signature, with an MBR partition table or
  // without one (a floppy or "superfloppy" FAT boot sector). gpt: a protective MBR (type 0xEE
  // at LBA 1) announces a GUID partition table, valid or damaged. iso9660: an ISO 9660 volume,
  // plain or hybrid (an MBR or GPT as well: then both are inspected). unknown: none of these.
  enum class Layout { blank, mbr, gpt, iso9660, unknown };

  Layout layout = Layout::unknown;
  // Sector 0 has the boot signature and boot code (its first 440 bytes not all zero), or the
  // El Torito default entry is a bootable x86 one. Boot code is judged by its presence only:
  // the stub mkfs.vfat writes ("This is not a bootable disk") counts, as it runs and says so.
  bool bios_bootable = false;
  // An EFI system partition (GPT type C12A7328-F81F-11D2-BA4B-00A0C93EC93B, or MBR type 0xEF),
  // or a bootable El Torito entry for EFI (platform 0xEF).
  bool uefi_bootable = false;
  // One line: "GPT disk, EFI system partition at 1 MiB (512 MiB), BIOS boot code in the
  // protective MBR".
  std::string description;
  // Why a flag is false, one clause each, each reading after the medium's name ("its MBR has
  // no boot code"); empty where the flag is true.
  std::vector<std::string> bios_problems;
  std::vector<std::string> uefi_problems;
};

// Inspects a medium of `size` bytes whose disk sectors (the LBA unit of its MBR and GPT) are
// `sector_size` bytes: a power of two from 512 to 4096. Everything on the medium is treated as
// hostile; reads stay inside `size` and below 1 MiB each. Fails only when a read fails or the
// sector size is invalid: damaged structures are findings, described in the result.
Result<BootMedia> inspect_boot_media(const ReadAt& read, uint64_t size, uint32_t sector_size = 512);

// The same for a regular file or a block device (its size and logical sector size from the
// kernel).
Result<BootMedia> inspect_boot_media_file(const std::string& path);

// Why `media` cannot boot under `firmware` ("bios" or "uefi"), or empty if it can. When it
// boots under the other firmware, only this firmware's reasons, for "memtest.iso boots under
// BIOS only: its El Torito catalog has no UEFI entry"; when it boots under neither, the
// reasons for both, for "disk 0 (new.img) has no boot loader: its MBR has no boot signature
// and it has no EFI system partition". An unknown firmware name is named as such.
std::string why_not_bootable(const BootMedia& media, std::string_view firmware);

}  // namespace haven::firmware
