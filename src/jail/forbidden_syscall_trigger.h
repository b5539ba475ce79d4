#pragma once

// For tests only, never in an installed haven-vmm: haven-vmm-testhooks (src/vmm/CMakeLists.txt)
// links this, and tests/CMakeLists.txt checks that haven-vmm does not. With
// HAVEN_TEST_FORBIDDEN_SYSCALL=main|vcpu|worker in its environment, the first thread of that
// kind to start its work (base/thread_kind.h's enter_thread_kind) makes a system call no VMM
// thread may make (unshare(0), which would change nothing if it were allowed), so a test can
// see the seccomp filter end the VMM with the message and status it promises.
// For tests and benchmarks only as well:

namespace haven::jail::test_hooks {

void arm_forbidden_syscall_trigger();

// HAVEN_TEST_NO_SECCOMP=1: the benchmarks' "without the filter" side (bench/README.md). The
// rest of the confinement stays.
bool seccomp_filter_turned_off();

}  // namespace haven::jail::test_hooks
