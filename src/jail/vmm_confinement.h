#pragma once

// What confines every haven-vmm today, whoever started it (havend, `haven run`, boot
// verification): set by its first lines, before the VM config, a snapshot or any guest byte is
// read, so every parser already runs confined (with socket and connect still allowed until
// forbid_new_sockets, which comes after those two are parsed).
//   - no_new_privs: no exec can gain privileges;
//   - RLIMIT_CORE 0: no core file shows guest memory;
//   - a seccomp allowlist (vmm_syscalls.cc) for every thread; anything else ends the VMM with
//     kExitForbiddenSyscall and one line naming the thread's kind and the call.
// Not yet: its own uid, no capabilities, namespaces and an empty root (docs/JAIL-PLAN.md).

#include "base/error.h"

namespace haven::jail {

// Confines the calling process as above; FORBIDDEN_EXIT_STATUS is the status a forbidden call
// ends it with. In a sanitizer build (whose runtime needs ptrace and more at exit) the
// seccomp filter is left out and a warning says so; the rest still applies. WITH_FILTER false
// leaves it out too: only haven-vmm-testhooks does that, for benchmarks.
Result<void> confine_vmm_process(int forbidden_exit_status, bool with_filter = true);

// Once haven-vmm's own sockets listen (its console, its control socket): stacks a second filter
// that takes socket, socketpair, connect, bind and listen away, so a compromised VMM can reach
// no other Unix socket on the host. Nothing where confine_vmm_process loaded no filter.
Result<void> forbid_new_sockets();

// False in a sanitizer build, where confine_vmm_process leaves the filter out.
bool seccomp_filter_in_this_build();

}  // namespace haven::jail
