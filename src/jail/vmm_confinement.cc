#include "jail/vmm_confinement.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/log.h"
#include "jail/syscall_filter.h"
#include "jail/vmm_syscalls.h"

namespace haven::jail {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif
#else
constexpr bool kSanitizerBuild = false;
#endif

bool g_filtered = false;  // confine_vmm_process loaded the allowlist

}  // namespace

bool seccomp_filter_in_this_build() {
  return !kSanitizerBuild;
}

Result<void> confine_vmm_process(int forbidden_exit_status, bool with_filter) {
  rlimit no_core = {0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) return errno_error("setrlimit RLIMIT_CORE");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return errno_error("prctl PR_SET_NO_NEW_PRIVS");
  if constexpr (kSanitizerBuild) {
    log::warn("a sanitizer build: no seccomp filter (its runtime needs calls the filter denies)");
    return {};
  }
  if (!with_filter) {
    log::warn("no seccomp filter (HAVEN_TEST_NO_SECCOMP, a test build)");
    return {};
  }
  TRY(install_forbidden_syscall_report("haven-vmm", forbidden_exit_status));
  auto filter = TRY(SyscallFilter::create());
  TRY(allow_vmm_syscalls(filter, ::getpid()));
  TRY(filter.load_for_all_threads());
  g_filtered = true;
  return {};
}

Result<void> forbid_new_sockets() {
  if (!g_filtered) return {};
  auto filter = TRY(SyscallFilter::create_denylist());
  TRY(jail::forbid_new_sockets(filter));
  TRY(filter.load_for_all_threads());
  return {};
}

}  // namespace haven::jail
