#include "jail/forbidden_syscall_trigger.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "base/thread_kind.h"

namespace haven::jail::test_hooks {

namespace {

ThreadKind g_target = ThreadKind::other;

void trigger(ThreadKind kind) {
  if (kind == g_target) ::syscall(SYS_unshare, 0);
}

}  // namespace

void arm_forbidden_syscall_trigger() {
  const char* wanted = std::getenv("HAVEN_TEST_FORBIDDEN_SYSCALL");
  if (!wanted) return;
  std::string_view kind = wanted;
  if (kind == "main")
    g_target = ThreadKind::main;
  else if (kind == "vcpu")
    g_target = ThreadKind::vcpu;
  else if (kind == "worker")
    g_target = ThreadKind::device_worker;
  else
    return;
  set_thread_kind_hook(trigger);
}

bool seccomp_filter_turned_off() {
  const char* off = std::getenv("HAVEN_TEST_NO_SECCOMP");
  return off && std::string_view(off) == "1";
}

}  // namespace haven::jail::test_hooks
