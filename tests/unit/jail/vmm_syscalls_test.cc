// haven-vmm's allowlist, loaded in a child process (a death test) that then tries a call:
// what a VMM needs works, what an escaped guest would reach for ends the process with the
// promised status and a line naming the thread's kind and the call.
#include "jail/vmm_syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "base/thread_kind.h"
#include "jail/syscall_filter.h"
#include "jail/vmm_confinement.h"

namespace haven::jail {
namespace {

constexpr int kForbidden = 8;
alignas(4096) char g_page[4096];

void die(const char* what) {
  std::fprintf(stderr, "setting up the filter failed: %s\n", what);
  std::_Exit(99);
}

// In the death test's child: confines it as haven-vmm is, then runs BODY, then exits 0.
void confined_then(ThreadKind kind, const std::function<void()>& body) {
  mark_thread_kind(kind);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
  if (!install_forbidden_syscall_report("haven-vmm", kForbidden)) die("report");
  auto filter = SyscallFilter::create();
  if (!filter) die("create");
  if (!allow_vmm_syscalls(*filter, ::getpid())) die("allowlist");
  if (!filter->load_for_all_threads()) die("load");
  body();
  std::_Exit(0);
}

class VmmSyscalls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!seccomp_filter_in_this_build())
      GTEST_SKIP() << "a sanitizer build: haven-vmm loads no seccomp filter";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

#define EXPECT_FORBIDDEN(kind, call, name)                                                    \
  EXPECT_EXIT(confined_then(kind, [] { call; }), ::testing::ExitedWithCode(kForbidden),       \
              "haven-vmm: the .* thread made a system call its seccomp filter forbids: " name \
              " \\([0-9]+\\)")

TEST_F(VmmSyscalls, WhatAnEscapedGuestReachesForEndsTheVmm) {
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0), "ptrace");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_unshare, 0), "unshare");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_setns, 0, 0), "setns");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, nullptr),
                   "mount");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_execve, "/bin/true", nullptr, nullptr),
                   "execve");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_fork), "fork");
  // A process, not a thread: clone without CLONE_THREAD (what glibc's fork makes).
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0), "clone");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0), "socket");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_setuid, 0), "setuid");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_bpf, 0, nullptr, 0), "bpf");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0),
                   "perf_event_open");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_process_vm_readv, 1, nullptr, 0, nullptr, 0, 0),
                   "process_vm_readv");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_kill, 1, 0), "kill");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_tgkill, ::getppid(), ::getppid(), 0), "tgkill");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_userfaultfd, 0), "userfaultfd");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_init_module, nullptr, 0, ""), "init_module");
}

TEST_F(VmmSyscalls, ArgumentRulesHoldTheLine) {
  // A thread in new namespaces is a process in disguise.
  EXPECT_FORBIDDEN(
      ThreadKind::vcpu,
      ::syscall(SYS_clone, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_NEWNET, 0, 0, 0, 0),
      "clone");
  // The trap's own handler cannot be replaced, or a forbidden call would just fail quietly.
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::signal(SIGSYS, SIG_IGN), "rt_sigaction");
  // Nor with SIGSYS dressed up in the register's upper half, which the kernel ignores.
  EXPECT_FORBIDDEN(ThreadKind::vcpu,
                   ::syscall(SYS_rt_sigaction, (1ULL << 32) | SIGSYS, nullptr, nullptr, 8),
                   "rt_sigaction");
  // Limits: its own, read only.
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_prlimit64, 0, RLIMIT_CORE, g_page, nullptr),
                   "prlimit64");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_prlimit64, 1, RLIMIT_NOFILE, nullptr, g_page),
                   "prlimit64");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_setrlimit, RLIMIT_CORE, g_page), "setrlimit");
}

TEST_F(VmmSyscalls, ASigsysFromOutsideIsNotMistakenForTheFilters) {
  EXPECT_EXIT(confined_then(ThreadKind::main, [] { ::raise(SIGSYS); }),
              ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(VmmSyscalls, NoNewSocketsOnceTheVmmsOwnListen) {
  EXPECT_FORBIDDEN(
      ThreadKind::main,
      {
        auto filter = SyscallFilter::create_denylist();
        if (!filter || !forbid_new_sockets(*filter) || !filter->load_for_all_threads())
          std::_Exit(98);
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) std::_Exit(97);  // the rest still works
        ::socket(AF_UNIX, SOCK_STREAM, 0);
      },
      "socket");
  EXPECT_FORBIDDEN(
      ThreadKind::main,
      {
        auto filter = SyscallFilter::create_denylist();
        if (!filter || !forbid_new_sockets(*filter) || !filter->load_for_all_threads())
          std::_Exit(98);
        ::syscall(SYS_connect, 0, nullptr, 0);
      },
      "connect");
}

TEST_F(VmmSyscalls, NoTypingIntoTheTerminalAndNoExecutableMemory) {
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_ioctl, 0, TIOCSTI, "x"), "ioctl");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::syscall(SYS_ioctl, 0, TIOCLINUX, "x"), "ioctl");
  EXPECT_FORBIDDEN(ThreadKind::vcpu,
                   ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                   "mmap");
  EXPECT_FORBIDDEN(ThreadKind::vcpu, ::mprotect(g_page, 4096, PROT_READ | PROT_EXEC), "mprotect");
}

TEST_F(VmmSyscalls, TheMessageNamesTheThreadsKind) {
  EXPECT_EXIT(confined_then(ThreadKind::vcpu, [] { ::syscall(SYS_unshare, 0); }),
              ::testing::ExitedWithCode(kForbidden), "the vCPU thread made");
  EXPECT_EXIT(confined_then(ThreadKind::device_worker, [] { ::syscall(SYS_unshare, 0); }),
              ::testing::ExitedWithCode(kForbidden), "the device worker thread made");
  EXPECT_EXIT(confined_then(ThreadKind::main, [] { ::syscall(SYS_unshare, 0); }),
              ::testing::ExitedWithCode(kForbidden), "the main thread made");
}

TEST_F(VmmSyscalls, WhatAVmmNeedsStillWorks) {
  EXPECT_EXIT(
      confined_then(ThreadKind::main,
                    [] {
                      // Threads: glibc tries clone3, gets ENOSYS, falls back to clone.
                      if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) std::_Exit(1);
                      int ran = 0;
                      std::thread([&] { ran = 1; }).join();
                      if (ran != 1) std::_Exit(2);
                      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                      if (fd < 0) std::_Exit(3);
                      ::close(fd);
                      void* memory = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                      if (memory == MAP_FAILED) std::_Exit(4);
                      int pipes[2];
                      if (::pipe2(pipes, O_CLOEXEC) != 0) std::_Exit(5);
                      // A terminal's settings may be asked of anything: ENOTTY here.
                      char settings[64];
                      if (::ioctl(pipes[0], TCGETS, settings) != -1) std::_Exit(6);
                      if (::prctl(PR_SET_NAME, "vcpu0", 0, 0, 0) != 0) std::_Exit(7);
                      // Its own threads may be signalled (the vCPU kick), any signal
                      // but SIGSYS handled, its limits read, KVM asked (of any fd).
                      if (::syscall(SYS_tgkill, ::getpid(), ::gettid(), 0) != 0) std::_Exit(8);
                      if (::signal(SIGUSR1, SIG_IGN) == SIG_ERR) std::_Exit(9);
                      if (::signal(SIGRTMAX, SIG_IGN) == SIG_ERR) std::_Exit(12);
                      if (::signal(SIGHUP, SIG_IGN) == SIG_ERR) std::_Exit(13);
                      rlimit files{};
                      if (::getrlimit(RLIMIT_NOFILE, &files) != 0) std::_Exit(10);
                      if (::ioctl(pipes[0], KVM_GET_API_VERSION, 0) != -1 || errno != ENOTTY)
                        std::_Exit(11);
                    }),
      ::testing::ExitedWithCode(0), "");
}

// The real thing, as haven-vmm's main calls it, in a death test's child: checks no_new_privs,
// the filter and no core files, then lets a thread that ran before the filter was loaded make
// a forbidden call.
void confine_then_let_an_early_thread_unshare() {
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) std::_Exit(97);
  std::thread early([&] {
    mark_thread_kind(ThreadKind::device_worker);
    char byte;
    if (::read(go[0], &byte, 1) != 1) std::_Exit(96);
    ::syscall(SYS_unshare, 0);
  });
  if (!confine_vmm_process(kForbidden)) std::_Exit(99);
  std::string status;
  char buffer[4096];
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : ::read(fd, buffer, sizeof(buffer));
  if (n > 0) status.assign(buffer, static_cast<size_t>(n));
  rlimit core{};
  core.rlim_cur = core.rlim_max = 1;
  ::getrlimit(RLIMIT_CORE, &core);
  if (status.find("NoNewPrivs:\t1") == std::string::npos ||
      status.find("Seccomp:\t2") == std::string::npos || core.rlim_cur != 0 || core.rlim_max != 0)
    std::_Exit(95);
  if (::write(go[1], "g", 1) != 1) std::_Exit(94);
  early.join();
  std::_Exit(0);
}

TEST_F(VmmSyscalls, ConfiningTheProcessCoversThreadsThatAlreadyRun) {
  EXPECT_EXIT(confine_then_let_an_early_thread_unshare(), ::testing::ExitedWithCode(kForbidden),
              "the device worker thread made a system call its seccomp filter forbids: unshare");
}

}  // namespace
}  // namespace haven::jail
