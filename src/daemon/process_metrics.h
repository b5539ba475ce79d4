#pragma once

// What a running haven-vmm costs the host, read from /proc: CPU time (its vCPU and device
// threads together), resident memory, and the bytes it read and wrote (disk images, TAP).

#include <sys/types.h>

#include <cstdint>

#include "base/error.h"

namespace haven::daemon {

struct ProcessMetrics {
  double cpu_seconds = 0;   // user + system, all threads
  uint64_t rss_bytes = 0;   // resident set (guest RAM it touched + the VMM)
  uint64_t read_bytes = 0;  // rchar: bytes read by syscalls (disk, TAP, console)
  uint64_t write_bytes = 0;
  uint32_t threads = 0;
};

Result<ProcessMetrics> read_process_metrics(pid_t pid);

}  // namespace haven::daemon
