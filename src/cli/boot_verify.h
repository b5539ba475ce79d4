#pragma once

// `haven backup verify --boot --repo DIR SNAPSHOT [--ready TEXT] [--timeout S]`: proves a
// backup boots. The snapshot's guest (its VM config, or --kernel/--initrd/--cmdline for a
// bare disk) runs in a throwaway VM: no network, its disk a temporary image that fetches
// only the chunks the guest reads (nothing is written back anywhere), the serial console
// watched for TEXT (default "login:"). The result and the console transcript are stored with
// the snapshot (store/boot_record.h). Exit status 0 booted, 3 did not, 1 could not check.

#include <cstdint>
#include <string>

#include "store/repository.h"

namespace haven::cli {

struct BootVerifyArgs {
  std::string repo;  // absolute
  std::string snapshot;
  std::string ready = "login:";
  unsigned timeout = 120;  // seconds
  std::string kernel, initrd, cmdline, memory;
  uint32_t cpus = 0;
  bool json = false;
  bool quiet = false;
};

int run_boot_verify(store::Repository& repository, const BootVerifyArgs& args);

}  // namespace haven::cli
