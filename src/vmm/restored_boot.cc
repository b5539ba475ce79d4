#include "vmm/restored_boot.h"

#include "base/atomic_file.h"
#include "vmm/snapshot_layout.h"

namespace haven::vmm {
namespace {

// From firmware to direct boot: what only firmware used goes.
void drop_firmware(VmConfig& config, std::vector<std::string>& notes) {
  if (config.cdrom)
    notes.push_back(
        fmt::format("the cdrom ({}) left out: the guest boots its kernel directly", *config.cdrom));
  if (config.floppy)
    notes.push_back(fmt::format("the floppy ({}) left out: the guest boots its kernel directly",
                                *config.floppy));
  config.firmware = Firmware::none;
  config.cdrom.reset();
  config.floppy.reset();
  config.boot_order.clear();
  config.nvram.reset();
  config.boot_timeout = VmConfig::kDefaultBootTimeout;
}

// From direct boot (or another firmware) to `firmware`.
void use_firmware(VmConfig& config, Firmware firmware, std::vector<std::string>& notes) {
  config.kernel.clear();
  config.initrd.reset();
  config.cmdline = VmConfig::kDefaultCmdline;
  config.firmware = firmware;
  if (firmware != Firmware::bios && config.floppy) {
    notes.push_back(
        fmt::format("the floppy ({}) left out: OVMF boots no floppies", *config.floppy));
    config.floppy.reset();
    std::erase(config.boot_order, BootDevice::floppy);
  }
}

}  // namespace

Result<Firmware> parse_boot_firmware(std::string_view text) {
  if (text == "bios") return Firmware::bios;
  if (text == "uefi") return Firmware::uefi;
  return field_error(ErrorKind::invalid, "firmware",
                     "'{}' is not bios or uefi (give a kernel to boot one directly)", text);
}

Result<std::vector<std::string>> apply_boot_choice(VmConfig& config, const BootChoice& choice,
                                                   bool bare_disk) {
  if (choice.kernel && choice.firmware)
    return field_error(ErrorKind::invalid, "firmware",
                       "give either --kernel (direct boot) or --firmware, not both");
  if (choice.firmware && *choice.firmware == Firmware::none)
    return field_error(ErrorKind::invalid, "firmware",
                       "give bios or uefi (or --kernel to boot a kernel directly)");
  std::vector<std::string> notes;
  if (choice.firmware) {
    use_firmware(config, *choice.firmware, notes);
    if (bare_disk) config.on_reboot = RebootAction::restart;
  } else if (choice.kernel) {
    if (config.firmware != Firmware::none) drop_firmware(config, notes);
    config.kernel = *choice.kernel;
  }
  if (config.firmware != Firmware::none && (choice.initrd || choice.cmdline))
    return field_error(ErrorKind::invalid, choice.initrd ? "initrd" : "cmdline",
                       "a {} guest boots its own loader; --{} goes with --kernel (direct boot)",
                       firmware_name(config.firmware), choice.initrd ? "initrd" : "cmdline");
  if (choice.initrd) config.initrd = *choice.initrd;
  if (choice.cmdline) config.cmdline = *choice.cmdline;
  if (config.firmware == Firmware::none && config.kernel.empty())
    return field_error(
        ErrorKind::invalid, "kernel",
        "{}: give --kernel (with --initrd, --cmdline) or --firmware bios|uefi to boot it",
        bare_disk ? "the snapshot is a bare disk, with no VM definition"
                  : "the snapshot's guest has no kernel");
  return notes;
}

Result<void> place_nvram(VmConfig& config, std::span<const uint8_t> stored,
                         const std::string& dir) {
  if (config.firmware != Firmware::uefi) {
    config.nvram.reset();
    return {};
  }
  std::string path = dir + "/" + kSnapshotNvramName;
  if (!stored.empty())
    TRY(with_context(write_file_atomic(path, stored, /*exclusive=*/true, 0600),
                     "the guest's UEFI variables"));
  config.nvram = path;
  return {};
}

}  // namespace haven::vmm
