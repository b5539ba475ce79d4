#pragma once

// What Haven hands guest firmware (SeaBIOS for `bios`, OVMF for `uefi`) so that it can boot the
// guest's own boot loader: the firmware image files, the fw_cfg items that describe the
// machine, and the CMOS bytes older firmware reads memory sizes from. Pure computation from
// the VM config and the machine's layout; vmm/machine_firmware.cc puts it into a machine.
// docs/ARCHITECTURE.md ("Firmware") explains the choices.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "arch/x86/acpi/tables.h"
#include "base/error.h"
#include "memory/guest_memory.h"
#include "vmm/vm_config.h"

namespace haven::vmm {

// Debian's firmware images: SeaBIOS's bios-256k.bin, or OVMF's code and the template of its
// variable store (4 MiB builds, no SMM requirement, Secure Boot not enrolled).
struct FirmwareFiles {
  std::string code;
  std::string vars_template;  // uefi only
};
// Finds them (HAVEN_FIRMWARE_DIR, when set, replaces /usr/share for tests and custom builds);
// a missing file is an error that names the Debian package to install.
Result<FirmwareFiles> find_firmware_files(Firmware firmware);

// A guest UEFI variable store: created from OVMF's template when `path` does not exist (0600),
// refused when it exists with another size (a store of another OVMF build).
Result<void> prepare_nvram(const std::string& path, const std::string& template_path);

// Something firmware can boot from, and where it is.
struct BootTarget {
  BootDevice kind;
  uint32_t pci_slot = 0;    // virtio-blk disk, or the virtio-scsi controller of the CD-ROM
  std::string floppy_name;  // the fw_cfg file of the floppy image ("floppyimg/NAME")
};
// QEMU's "bootorder" file: one OpenFirmware device path per line, as SeaBIOS and OVMF both
// read them (QEMU's own paths for virtio-blk, a virtio-scsi CD and SeaBIOS's floppy ramdisk).
std::vector<uint8_t> boot_order_file(std::span<const BootTarget> targets);

// The RAM and PCI layout of a firmware guest.
struct FirmwareLayout {
  std::vector<memory::RegionSpec> ram;
  uint32_t physical_address_bits = 36;
};
// Where the root bridge decodes PCI memory: the whole hole above low RAM (SeaBIOS and OVMF
// place 32-bit BARs from 2 or 3 GiB), and above 4 GiB from the first GiB boundary past RAM to
// the end of the physical address space (OVMF puts 64-bit BARs at its top).
arch::x86::acpi::PciWindows firmware_pci_windows(const FirmwareLayout& layout);

// The floppy sizes SeaBIOS serves from fw_cfg (its FloppyInfo table): anything else it ignores.
bool is_floppy_size(uint64_t bytes);

struct FwCfgContent {
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> items;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files;
};
// Where the ACPI tables say the PIIX4's PM registers are until firmware has programmed them
// (OVMF's choice; SeaBIOS moves them to 0x600).
inline constexpr uint16_t kDefaultPmBase = 0xb000;

struct FirmwareInputs {
  Firmware firmware = Firmware::bios;
  uint32_t cpus = 1;
  uint16_t pm_base = kDefaultPmBase;
  FirmwareLayout layout;
  std::vector<BootTarget> boot;                // in the order to try
  std::optional<std::vector<uint8_t>> floppy;  // the image, named by its BootTarget
  std::vector<uint8_t> smbios_anchor, smbios_tables;
};
// Every fw_cfg item: CPU count, e820, boot order, ACPI (linker/loader), SMBIOS, the serial
// console port, the floppy image.
FwCfgContent build_fw_cfg_content(const FirmwareInputs& inputs);
// The ACPI part of it alone ("etc/acpi/tables"), for the PM base firmware has programmed.
std::vector<uint8_t> acpi_tables_file(const FirmwareInputs& inputs);

// CMOS RAM bytes {index, value} with memory sizes and the CPU count, where SeaBIOS and OVMF
// look when fw_cfg lacks them and where SeaBIOS counts processors.
std::vector<std::pair<uint8_t, uint8_t>> cmos_firmware_bytes(
    std::span<const memory::RegionSpec> ram, uint32_t cpus);

// Why the guest's media cannot boot under its firmware, as one line ("disk 0 (new.img) has no
// boot loader: ..."), or empty when one of them can (or none could be read).
std::string describe_boot_media(const VmConfig& config);

}  // namespace haven::vmm
