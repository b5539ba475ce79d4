#include "jail/vmm_syscalls.h"

#include <errno.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

namespace haven::jail {

namespace {

// Calls allowed with any arguments, by what they are for. The VMM still opens its files by
// path today (disks, snapshots, sidecars, the control socket): the jail's later stages hand it
// descriptors instead and narrow this list (docs/JAIL-PLAN.md).
// clang-format off (a table: one line per group of calls)
constexpr const char* kAllowed[] = {
    // files
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "lseek",
    "open",
    "openat",
    "close",
    "close_range",
    "fstat",
    "newfstatat",
    "stat",
    "lstat",
    "statx",
    "fstatfs",
    "statfs",
    "fcntl",
    "flock",
    "fallocate",
    "ftruncate",
    "truncate",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "copy_file_range",
    "sendfile",
    "fadvise64",
    "readahead",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "readlink",
    "readlinkat",
    "getdents64",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchown",
    "utimensat",
    "umask",
    "getcwd",
    "access",
    "faccessat",
    "faccessat2",
    "dup",
    "dup2",
    "dup3",
    "pipe2",
    "memfd_create",
    // memory (mmap and mprotect below, without PROT_EXEC)
    "munmap",
    "mremap",
    "madvise",
    "brk",
    "msync",
    "mincore",
    // waiting and events
    "eventfd2",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "signalfd4",
    "futex",
    "nanosleep",
    "clock_nanosleep",
    "sched_yield",
    // signals (tgkill and rt_sigaction below)
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "rt_sigpending",
    "sigaltstack",
    "restart_syscall",
    // threads and the process itself (clone, prlimit64 and prctl below)
    "exit",
    "exit_group",
    "set_robust_list",
    "rseq",
    "set_tid_address",
    "arch_prctl",
    "sched_getaffinity",
    "getpid",
    "gettid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "getrlimit",
    "getrusage",
    "uname",
    "sysinfo",
    "times",
    "getrandom",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    // io_uring: the block stack's rings. What a ring does is not seen by seccomp: see
    // ARCHITECTURE.md's "Confinement" for what that leaves open.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // Unix sockets the VMM listens on (control, console); socket() below: AF_UNIX only. connect
    // only because listen_unix probes whether a left-over socket is still answered. All five
    // are taken away once the VMM's sockets listen (forbid_new_sockets).
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "getsockopt",
    "setsockopt",
    "sendmsg",
    "recvmsg",
    "sendto",
    "recvfrom",
    "shutdown",
    "getsockname",
    "getpeername",
};
// clang-format on

// ioctl by request: KVM's, the TAP device's, a terminal's settings, a block device's size.
// Never TIOCSTI or TIOCLINUX: the VMM may hold the user's terminal, and must not type into it.
Result<void> allow_ioctls(SyscallFilter& filter) {
  constexpr uint64_t kTypeMask = 0xff00;
  TRY(filter.allow_if("ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, kTypeMask, 0xAE00)}));  // KVM
  // 'T' numbers 192-255 are all the TUN/TAP driver's (TUNSETIFF is 202).
  TRY(filter.allow_if("ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffc0, 0x54c0)}));
  constexpr uint64_t kExact = 0xffffffff;
  constexpr unsigned long kRequests[] = {TCGETS,     TCSETS,       TCSETSW,   TCSETSF,
                                         TIOCGWINSZ, FIONREAD,     FIONBIO,   FIOCLEX,
                                         FIONCLEX,   BLKGETSIZE64, BLKSSZGET, FICLONE};
  for (unsigned long request : kRequests)
    TRY(filter.allow_if("ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, kExact, request)}));
  return {};
}

}  // namespace

Result<void> forbid_new_sockets(SyscallFilter& filter) {
  for (const char* name : {"socket", "socketpair", "connect", "bind", "listen"})
    TRY(filter.forbid(name));
  return {};
}

Result<void> allow_vmm_syscalls(SyscallFilter& filter, int own_pid) {
  for (const char* name : kAllowed) TRY(filter.allow(name));
  TRY(allow_ioctls(filter));
  // Threads, never processes, and in the same namespaces: pthread_create's clone has
  // CLONE_THREAD and no CLONE_NEW*. clone3 passes its flags in memory, where a filter cannot
  // look; glibc falls back to clone on ENOSYS.
  constexpr uint64_t kCloneChecked = CLONE_THREAD | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                     CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWCGROUP;
  TRY(filter.allow_if("clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, kCloneChecked, CLONE_THREAD)}));
  TRY(filter.fail("clone3", ENOSYS));
  // No executable memory: the VMM loads no code after it starts.
  TRY(filter.allow_if("mmap", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}));
  TRY(filter.allow_if("mprotect", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}));
  TRY(filter.allow_if("tgkill", {SCMP_A0(SCMP_CMP_EQ, static_cast<uint64_t>(own_pid))}));
  // Any handler but SIGSYS's: the trap's report stays in place (syscall_filter.h).
  // The filter compares all 64 bits of the register and the kernel reads only the low 32, so
  // the rules name what is allowed (1-30, 32-63, 64) rather than "not SIGSYS", which
  // SIGSYS with a high bit set would pass.
  static_assert(SIGSYS == 31);
  TRY(filter.allow_if("rt_sigaction", {SCMP_A0(SCMP_CMP_LT, SIGSYS)}));
  TRY(filter.allow_if("rt_sigaction", {SCMP_A0(SCMP_CMP_MASKED_EQ, ~0x1fULL, 0x20)}));
  TRY(filter.allow_if("rt_sigaction", {SCMP_A0(SCMP_CMP_EQ, 64)}));
  // Its own limits, read only (glibc's getrlimit): the VMM sets what it needs before this.
  TRY(filter.allow_if("prlimit64", {SCMP_A0(SCMP_CMP_EQ, 0), SCMP_A2(SCMP_CMP_EQ, 0)}));
  TRY(filter.allow_if("socket", {SCMP_A0(SCMP_CMP_EQ, AF_UNIX)}));
  for (int option : {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE})
    TRY(filter.allow_if("prctl", {SCMP_A0(SCMP_CMP_EQ, static_cast<uint64_t>(option))}));
  // More filters, which only ever take calls away (forbid_new_sockets stacks one).
  TRY(filter.allow_if("seccomp", {SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER)}));
  return {};
}

}  // namespace haven::jail
