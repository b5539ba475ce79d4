#pragma once

// A seccomp-bpf filter built with libseccomp: an allowlist, and a trap for everything else.
// A thread that makes a system call the filter does not allow gets SIGSYS; the handler
// installed by install_forbidden_syscall_report() writes one line naming the thread's kind
// (base/thread_kind.h) and the call, and ends the whole process with a chosen status. The
// kernel forces SIGSYS through even where the process blocks or ignores it, and haven-vmm's
// allowlist lets no one change the SIGSYS handler once it is installed (vmm_syscalls.cc), so
// a compromised thread cannot talk its way past the trap. A SIGSYS that is not the filter's
// (kill -SYS) kills the process as it would without the handler.

#include <seccomp.h>

#include <memory>

#include "base/error.h"

namespace haven::jail {

class SyscallFilter {
 public:
  // An empty allowlist: every call traps until allowed.
  static Result<SyscallFilter> create();
  // The other way round, for a filter stacked on an allowlist to take calls away from it:
  // everything passes (to the filters below) until forbidden.
  static Result<SyscallFilter> create_denylist();

  // Allows the call NAME (as libseccomp spells it, e.g. "openat") with any arguments.
  Result<void> allow(const char* name);
  // Allows NAME only where all the argument comparisons hold.
  Result<void> allow_if(const char* name, std::initializer_list<scmp_arg_cmp> conditions);
  // Makes NAME fail with ERRNO instead of trapping (glibc falls back from clone3 on ENOSYS).
  Result<void> fail(const char* name, int error);
  // Makes NAME trap (in a denylist).
  Result<void> forbid(const char* name);

  // Loads the filter into the kernel for every thread of the process (TSYNC): from now on no
  // thread can drop it, and threads made later inherit it. Needs no_new_privs set before (or
  // CAP_SYS_ADMIN): vmm_confinement.cc sets it.
  Result<void> load_for_all_threads();

 private:
  struct Release {
    void operator()(void* context) const { seccomp_release(context); }
  };
  static Result<SyscallFilter> create_with_default(uint32_t action);
  explicit SyscallFilter(void* context) : m_context(context) {}
  std::unique_ptr<void, Release> m_context;
};

// Installs the SIGSYS handler described above: a trapped call writes "PROGRAM: the <kind>
// thread made a system call its seccomp filter forbids: <name> (<number>)" to stderr and ends
// the process with EXIT_STATUS. Call before loading a filter.
Result<void> install_forbidden_syscall_report(const char* program, int exit_status);

}  // namespace haven::jail
