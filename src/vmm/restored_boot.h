#pragma once

// How a guest from a backup boots (`haven restore` and POST /v1/restore through havend,
// `haven backup verify --boot`): the snapshot's VM config, or nothing but its disk, with the
// caller's choice of a kernel (direct boot) or firmware; and the UEFI variables it goes on
// with.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "vmm/vm_config.h"

namespace haven::vmm {

// What the caller asked for; what is unset stays as the snapshot has it.
struct BootChoice {
  std::optional<std::string> kernel = {}, initrd = {}, cmdline = {};
  std::optional<Firmware> firmware = {};  // bios or uefi
};

// "bios" or "uefi" ("none" is not a way to boot: a kernel is).
Result<Firmware> parse_boot_firmware(std::string_view text);

// Applies `choice` to `config`, the snapshot's VM config or, for a snapshot of a bare disk
// (`bare_disk`: a disk file or device, no VM definition), a default one that needs a kernel or
// firmware. Firmware replaces the kernel, initrd and command line; a kernel replaces firmware
// and its media (cdrom, floppy) and boot order. A bare disk booted through firmware is a
// PC's disk: it restarts when it reboots, as havend's firmware guests do. Returns notes on
// what was left out; errors are one line that starts with the field ("kernel: ...") and names
// the flags.
Result<std::vector<std::string>> apply_boot_choice(VmConfig& config, const BootChoice& choice,
                                                   bool bare_disk);

// The UEFI variable store of a guest restored into `dir`: `dir`/nvram.fd (0600), holding
// `stored` (the variables the snapshot carries) when there are any; otherwise the VMM makes
// it from OVMF's template when the guest starts. Sets config.nvram, or clears it for a guest
// without UEFI. A path in the snapshot's config is never used: that store is the original
// guest's. Fails if the file exists.
Result<void> place_nvram(VmConfig& config, std::span<const uint8_t> stored, const std::string& dir);

}  // namespace haven::vmm
