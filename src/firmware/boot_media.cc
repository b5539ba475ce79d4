#include "firmware/boot_media.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include "base/file_extents.h"
#include "base/sys.h"
#include "base/units.h"
#include "firmware/el_torito.h"
#include "firmware/gpt.h"
#include "firmware/mbr.h"
#include "firmware/medium.h"

namespace haven::firmware {
namespace {

// Sector 0, the GPT header at LBA 1 (sectors up to 4 KiB) and the ISO 9660 descriptors at
// 32 KiB and 34 KiB all lie in the first 64 KiB; a medium with only zeros there is blank.
constexpr uint64_t kHeadSize = 64 * KiB;

// What each part of the medium says, before it is judged.
struct Findings {
  uint64_t size;
  uint32_t sector_size;
  std::optional<BootSector> sector0;  // absent when the medium is shorter than 512 bytes
  Iso9660 iso;
  std::optional<Gpt> gpt;   // when sector 0 is a protective MBR
  bool orphan_gpt = false;  // "EFI PART" at LBA 1 but no protective MBR: firmware ignores it

  // Sector 0 matters for an ISO only when it is a hybrid's MBR.
  bool disk_part() const { return sector0 && (!iso.present || sector0->signature); }
};

BootMedia blank(uint64_t size) {
  BootMedia media;
  media.layout = BootMedia::Layout::blank;
  std::string why = size == 0 ? "it is empty (0 bytes)" : "it is blank (all zeros)";
  media.description =
      size == 0 ? "empty (0 bytes)"
      : size <= kHeadSize
          ? fmt::format("blank: all {} are zeros", format_size(size))
          : fmt::format("blank: its first {} are all zeros", format_size(kHeadSize));
  media.bios_problems = {why};
  media.uefi_problems = {why};
  return media;
}

std::string too_small(const Findings& f) {
  return fmt::format("it is too small ({} bytes) to hold a boot sector", f.size);
}

// SeaBIOS boots a CD through the El Torito default entry only, and only when the validation
// entry says x86 (cdrom.c: "Platform"); it jumps to sector 0 of a disk after checking only the
// 0x55AA signature (boot.c), so all-zero boot code would hang there.
void judge_bios(const Findings& f, BootMedia& media) {
  std::vector<std::string> problems;
  bool bootable = false;
  if (f.iso.present) {
    if (!f.iso.el_torito) {
      problems.push_back("it has no El Torito boot record");
    } else if (!f.iso.catalog_problem.empty()) {
      problems.push_back("its El Torito boot catalog " + f.iso.catalog_problem);
    } else if (const ElToritoEntry& entry = f.iso.entries.front(); entry.platform != kPlatformX86) {
      problems.push_back(fmt::format("its El Torito default entry is for {}, not x86",
                                     platform_name(entry.platform)));
    } else if (!entry.bootable) {
      problems.push_back("its El Torito default entry is not marked bootable");
    } else if (!entry.in_image) {
      problems.push_back("its El Torito default entry's boot image lies past the end");
    } else {
      bootable = true;
    }
  }
  if (f.disk_part()) {
    const BootSector& boot = *f.sector0;
    const char* what = f.gpt ? "protective MBR" : boot.has_table ? "MBR" : "boot sector";
    if (!boot.signature)
      problems.push_back("its MBR has no boot signature");
    else if (!boot.boot_code)
      problems.push_back(fmt::format("its {} has no boot code", what));
    else
      bootable = true;
  } else if (!f.sector0 && !f.iso.present) {
    problems.push_back(too_small(f));
  }
  media.bios_bootable = bootable;
  if (!bootable) media.bios_problems = std::move(problems);
}

std::optional<std::string> el_torito_uefi_problem(const Iso9660& iso) {
  if (!iso.el_torito) return "it has no El Torito boot record";
  if (!iso.catalog_problem.empty()) return "its El Torito boot catalog " + iso.catalog_problem;
  auto is_efi = [](const ElToritoEntry& e) { return e.platform == kPlatformEfi; };
  auto usable = [](const ElToritoEntry& e) {
    return e.platform == kPlatformEfi && e.bootable && e.in_image;
  };
  if (std::none_of(iso.entries.begin(), iso.entries.end(), is_efi))
    return "its El Torito catalog has no UEFI entry";
  // EDK2's ElTorito.c skips a catalog whose validation entry does not sum to 0.
  if (!iso.checksum_ok) return "its El Torito validation entry has a wrong checksum";
  if (std::none_of(iso.entries.begin(), iso.entries.end(), usable))
    return "its El Torito UEFI entry is not bootable (not marked so, or its image is missing)";
  return std::nullopt;
}

// OVMF boots from an EFI system partition of a valid GPT, else of a valid MBR (EDK2
// PartitionDxe tries GPT, El Torito, then MBR), or from a bootable El Torito EFI entry.
void judge_uefi(const Findings& f, BootMedia& media) {
  std::vector<std::string> problems;
  bool bootable = false;
  if (f.iso.present) {
    auto problem = el_torito_uefi_problem(f.iso);
    if (problem)
      problems.push_back(std::move(*problem));
    else
      bootable = true;
  }
  const char* no_gpt = "its GPT lacks the protective MBR firmware requires";
  if (f.gpt) {
    const Gpt& gpt = *f.gpt;
    auto usable = std::find_if(gpt.efi_system.begin(), gpt.efi_system.end(),
                               [](const GptPartition& p) { return p.usable; });
    if (!gpt.valid)
      problems.push_back(
          fmt::format("both its GPT headers are damaged (the primary {}, the backup {})",
                      gpt.primary_problem, gpt.backup_problem));
    else if (gpt.efi_system.empty())
      problems.push_back("its GPT has no EFI system partition");
    else if (usable == gpt.efi_system.end())
      problems.push_back(fmt::format("its EFI system partition {} lies outside the usable sectors",
                                     gpt.efi_system.front().number));
    else
      bootable = true;
  } else if (f.disk_part() && f.sector0->signature) {
    const BootSector& boot = *f.sector0;
    bool esp = std::any_of(boot.partitions.begin(), boot.partitions.end(),
                           [](const MbrPartition& p) { return p.type == kMbrTypeEfiSystem; });
    if (!esp)
      problems.push_back(f.orphan_gpt ? no_gpt : "it has no EFI system partition");
    else if (!boot.table_problem.empty())
      problems.push_back("its MBR partition table is invalid (" + boot.table_problem + ")");
    else
      bootable = true;
  } else if (!f.iso.present) {
    problems.push_back(!f.sector0     ? too_small(f)
                       : f.orphan_gpt ? no_gpt
                                      : "it has no EFI system partition");
  }
  media.uefi_bootable = bootable;
  if (!bootable) media.uefi_problems = std::move(problems);
}

std::string describe_gpt(const Findings& f) {
  const Gpt& gpt = *f.gpt;
  const uint64_t sector = f.sector_size;
  std::string text;
  if (!gpt.valid) {
    text = fmt::format("GPT disk with both headers damaged (the primary {}, the backup {})",
                       gpt.primary_problem, gpt.backup_problem);
  } else {
    text = fmt::format("GPT disk with {} partition{}", gpt.used_entries,
                       gpt.used_entries == 1 ? "" : "s");
    auto list = [&](const std::vector<GptPartition>& partitions, const char* name) {
      for (size_t i = 0; i < partitions.size() && i < 2; ++i) {
        const GptPartition& p = partitions[i];
        if (p.usable)
          text += fmt::format(", {} at {} ({})", name, format_size(p.first_lba * sector),
                              format_size((p.last_lba - p.first_lba + 1) * sector));
        else
          text += fmt::format(", {} {} outside the usable sectors", name, p.number);
      }
    };
    list(gpt.efi_system, "EFI system partition");
    list(gpt.bios_boot, "BIOS boot partition");
  }
  text += f.sector0->boot_code ? ", BIOS boot code in the protective MBR"
                               : ", no boot code in the protective MBR";
  if (gpt.from_backup)
    text += fmt::format("; primary header damaged ({}), read the backup", gpt.primary_problem);
  return text;
}

// Sector 0 and what it announces: an MBR, a GPT, a floppy's boot sector, or nothing known.
std::string describe_disk(const Findings& f) {
  if (!f.sector0) return fmt::format("{} bytes, too small for a boot sector", f.size);
  if (f.gpt) return describe_gpt(f);
  const BootSector& boot = *f.sector0;
  if (!boot.signature)
    return f.orphan_gpt ? "GPT header at LBA 1 without a protective MBR (firmware ignores it)"
                        : "no boot signature (55 AA) in sector 0, no partition table or ISO 9660";
  const char* code = boot.boot_code ? " with boot code" : " without boot code";
  if (!boot.fat.empty())
    return fmt::format("floppy/superfloppy boot sector ({}, no partition table){}", boot.fat, code);
  if (!boot.has_table) return fmt::format("boot sector without a partition table{}", code);
  std::string text = fmt::format("MBR disk{}", code);
  text += boot.partitions.empty()
              ? ", no partitions"
              : fmt::format(", partition{} {}", boot.partitions.size() == 1 ? "" : "s",
                            describe_mbr_partitions(boot, f.sector_size));
  if (!boot.table_problem.empty()) text += "; " + boot.table_problem;
  return text;
}

std::string describe(const Findings& f, BootMedia::Layout layout) {
  if (layout != BootMedia::Layout::iso9660) return describe_disk(f);
  std::string text = "ISO 9660 image, " + describe_el_torito(f.iso);
  if (f.disk_part()) text += "; hybrid: " + describe_disk(f);
  return text;
}

}  // namespace

Result<BootMedia> inspect_boot_media(const ReadAt& read, uint64_t size, uint32_t sector_size) {
  if (sector_size < 512 || sector_size > 4096 || (sector_size & (sector_size - 1)) != 0)
    return make_error("sector size {} is not a power of two from 512 to 4096", sector_size);
  Medium medium(read, size);
  std::vector<uint8_t> head(static_cast<size_t>(std::min(size, kHeadSize)));
  TRY(medium.read(0, head));
  if (all_zero(head)) return blank(size);

  Findings f{size, sector_size, {}, {}, {}, false};
  if (head.size() >= kBootSectorSize)
    f.sector0 =
        parse_boot_sector(std::span<const uint8_t, kBootSectorSize>(head.data(), kBootSectorSize),
                          size / sector_size);
  f.iso = TRY(read_iso9660(medium, head));
  if (f.sector0 && f.sector0->protective)
    f.gpt = TRY(read_gpt(medium, sector_size));
  else if (head.size() >= 2 * uint64_t{sector_size})
    f.orphan_gpt = has_gpt_signature(std::span(head).subspan(sector_size));

  BootMedia media;
  using Layout = BootMedia::Layout;
  media.layout = f.iso.present                       ? Layout::iso9660
                 : f.gpt                             ? Layout::gpt
                 : f.sector0 && f.sector0->signature ? Layout::mbr
                                                     : Layout::unknown;
  judge_bios(f, media);
  judge_uefi(f, media);
  media.description = describe(f, media.layout);
  return media;
}

Result<BootMedia> inspect_boot_media_file(const std::string& path) {
  UniqueFd fd = TRY(sys::open_data_file(path, O_RDONLY, true));
  uint64_t size = TRY(sys::image_size(fd.get(), path));
  uint32_t sector_size = 512;
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISBLK(st.st_mode)) {
    // A 4Kn disk's MBR and GPT count 4 KiB sectors.
    int logical = 0;
    TRY(with_context(sys::ioctl(fd.get(), BLKSSZGET, &logical, "BLKSSZGET"), "{}", path));
    sector_size = static_cast<uint32_t>(logical);
  }
  ReadAt read = [&fd](uint64_t offset, std::span<uint8_t> out) {
    return sys::read_at(fd.get(), out, offset);
  };
  return with_context(inspect_boot_media(read, size, sector_size), "{}", path);
}

std::string why_not_bootable(const BootMedia& media, std::string_view firmware) {
  bool bios = firmware == "bios";
  if (!bios && firmware != "uefi")
    return fmt::format("Haven knows no firmware \"{}\" (bios or uefi)", firmware);
  if (bios ? media.bios_bootable : media.uefi_bootable) return "";
  std::vector<std::string> clauses = bios ? media.bios_problems : media.uefi_problems;
  if (!(bios ? media.uefi_bootable : media.bios_bootable)) {
    for (const std::string& clause : bios ? media.uefi_problems : media.bios_problems)
      if (std::find(clauses.begin(), clauses.end(), clause) == clauses.end())
        clauses.push_back(clause);
  }
  if (clauses.empty()) return "it holds nothing this firmware boots";
  std::string text = clauses.front();
  for (size_t i = 1; i < clauses.size(); ++i)
    text += (i + 1 == clauses.size() ? " and " : ", ") + clauses[i];
  return text;
}

}  // namespace haven::firmware
