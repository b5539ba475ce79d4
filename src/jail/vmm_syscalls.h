#pragma once

// The system calls a haven-vmm may make, as one seccomp allowlist for all its threads.

#include "base/error.h"
#include "jail/syscall_filter.h"

namespace haven::jail {

// Adds haven-vmm's allowlist to FILTER. The process id goes into the rule for tgkill (a VMM
// signals only its own threads).
Result<void> allow_vmm_syscalls(SyscallFilter& filter, int own_pid);

// Adds to a denylist (SyscallFilter::create_denylist) what haven-vmm no longer needs once its
// console and control sockets listen: making, binding and connecting sockets.
Result<void> forbid_new_sockets(SyscallFilter& filter);

}  // namespace haven::jail
