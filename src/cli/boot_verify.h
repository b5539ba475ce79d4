#pragma once

// `haven backup verify --boot --repo DIR SNAPSHOT [--ready TEXT] [--timeout S]`: proves a
// backup boots. The snapshot's guest (its VM config; --kernel/--initrd/--cmdline or
// --firmware bios|uefi instead of its own boot, which a bare disk needs) runs in a throwaway
// VM: no network, its disk a temporary image that fetches only the chunks the guest reads
// (nothing is written back anywhere), a UEFI guest's variables a temporary copy of those the
// snapshot carries (or a fresh store), the serial console watched for TEXT (default
// "login:"), which firmware output comes before. The result and the console transcript are
// stored with the snapshot (store/boot_record.h). Exit status 0 booted, 3 did not, 1 could
// not check.

#include <cstdint>
#include <optional>
#include <string>

#include "store/repository.h"

namespace haven::cli {

struct BootVerifyArgs {
  std::string repo;  // absolute
  std::string snapshot;
  std::string ready = "login:";
  // Seconds; unset: kDirectBootTimeout, or kFirmwareBootTimeout for a guest that boots through
  // firmware (firmware, then a boot loader, then the kernel: a full Debian takes some 80 s
  // under nested virtualization).
  std::optional<unsigned> timeout;
  static constexpr unsigned kDirectBootTimeout = 120;
  static constexpr unsigned kFirmwareBootTimeout = 300;
  std::string kernel, initrd, cmdline, firmware, memory;
  uint32_t cpus = 0;
  bool json = false;
  bool quiet = false;
};

int run_boot_verify(store::Repository& repository, const BootVerifyArgs& args);

}  // namespace haven::cli
