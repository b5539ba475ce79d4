#include "jail/syscall_filter.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include "base/terminal.h"
#include "base/thread_kind.h"

namespace haven::jail {

namespace {

auto libseccomp_error(int code, std::string_view what, const char* name) {
  return make_error("seccomp: {} {}: {}", what, name, std::strerror(-code));
}

// What the SIGSYS handler needs, prepared before any filter is loaded: the handler may not
// allocate, format with locale-aware code, or resolve names itself.
constexpr size_t kSyscallNames = 512;
constexpr int kSiCodeSeccomp = 1;  // SYS_SECCOMP (asm-generic/siginfo.h, not in glibc's headers)
constexpr size_t kNameLength = 32;
std::array<std::array<char, kNameLength>, kSyscallNames> g_names{};
const char* g_program = "haven";
int g_exit_status = 1;

// Appends TEXT at *AT within [BUFFER, END), never past it.
void append(char*& at, char* end, const char* text) {
  while (*text && at < end) *at++ = *text++;
}

void append_number(char*& at, char* end, long value) {
  char digits[24];
  size_t count = 0;
  unsigned long rest =
      value < 0 ? 0UL - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
  do {
    digits[count++] = static_cast<char>('0' + rest % 10);
    rest /= 10;
  } while (rest != 0 && count < sizeof(digits));
  if (value < 0 && at < end) *at++ = '-';
  while (count > 0 && at < end) *at++ = digits[--count];
}

void on_forbidden_syscall(int signal, siginfo_t* info, void*) {
  restore_terminal_before_dying();  // `haven run` holds the terminal raw; no destructor runs
  if (info->si_code != kSiCodeSeccomp) {
    // A SIGSYS someone sent (kill -SYS): not the filter's. Die of it as without this handler.
    // Once the filter is loaded, signal() is itself a forbidden call (no one changes SIGSYS's
    // handler): the kernel forces that nested SIGSYS, blocked in here, with the default
    // action, so the process dies of SIGSYS all the same.
    ::signal(signal, SIG_DFL);
    ::raise(signal);
    return;
  }
  char line[256];
  char* at = line;
  char* end = line + sizeof(line) - 3;  // room for ")\n" however long the rest
  int number = info->si_syscall;
  append(at, end, g_program);
  append(at, end, ": the ");
  std::string_view kind = thread_kind_name(current_thread_kind());
  for (char c : kind)
    if (at < end) *at++ = c;
  append(at, end, " thread made a system call its seccomp filter forbids: ");
  if (number >= 0 && static_cast<size_t>(number) < kSyscallNames &&
      g_names[static_cast<size_t>(number)][0] != '\0')
    append(at, end, g_names[static_cast<size_t>(number)].data());
  else
    append(at, end, "unknown");
  append(at, end, " (");
  append_number(at, end, number);
  end += 2;
  append(at, end, ")\n");
  ssize_t ignored = ::write(STDERR_FILENO, line, static_cast<size_t>(at - line));
  (void)ignored;
  ::syscall(SYS_exit_group, g_exit_status);
}

}  // namespace

Result<SyscallFilter> SyscallFilter::create() {
  return create_with_default(SCMP_ACT_TRAP);
}

Result<SyscallFilter> SyscallFilter::create_denylist() {
  return create_with_default(SCMP_ACT_ALLOW);
}

Result<void> SyscallFilter::forbid(const char* name) {
  int number = seccomp_syscall_resolve_name(name);
  if (number == __NR_SCMP_ERROR) return make_error("seccomp: no system call named {}", name);
  if (int rc = seccomp_rule_add(m_context.get(), SCMP_ACT_TRAP, number, 0); rc != 0)
    return libseccomp_error(rc, "forbidding", name);
  return {};
}

Result<SyscallFilter> SyscallFilter::create_with_default(uint32_t action) {
  void* context = seccomp_init(action);
  if (!context) return make_error("seccomp_init failed");
  SyscallFilter filter(context);
  if (int rc = seccomp_attr_set(context, SCMP_FLTATR_CTL_TSYNC, 1); rc != 0)
    return libseccomp_error(rc, "setting", "TSYNC");
  // A call through another ABI (int 0x80, x32) ends the process too, not just its thread
  // (libseccomp's default), which would leave a guest with a vCPU silently gone.
  if (int rc = seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc != 0)
    return libseccomp_error(rc, "setting", "the action for other ABIs");
  // no_new_privs is the caller's to set (vmm_confinement.cc does, once): libseccomp would set
  // it again with a prctl at every load, which a filter already loaded may forbid.
  if (int rc = seccomp_attr_set(context, SCMP_FLTATR_CTL_NNP, 0); rc != 0)
    return libseccomp_error(rc, "setting", "no_new_privs off");
  // A decision tree, not a list walked call by call: the filter runs on every system call.
  (void)seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  return filter;
}

Result<void> SyscallFilter::allow(const char* name) {
  return allow_if(name, {});
}

Result<void> SyscallFilter::allow_if(const char* name,
                                     std::initializer_list<scmp_arg_cmp> conditions) {
  int number = seccomp_syscall_resolve_name(name);
  if (number == __NR_SCMP_ERROR) return make_error("seccomp: no system call named {}", name);
  int rc = seccomp_rule_add_array(m_context.get(), SCMP_ACT_ALLOW, number,
                                  static_cast<unsigned>(conditions.size()), conditions.begin());
  if (rc != 0) return libseccomp_error(rc, "allowing", name);
  return {};
}

Result<void> SyscallFilter::fail(const char* name, int error) {
  int number = seccomp_syscall_resolve_name(name);
  if (number == __NR_SCMP_ERROR) return make_error("seccomp: no system call named {}", name);
  if (int rc = seccomp_rule_add(m_context.get(), SCMP_ACT_ERRNO(static_cast<uint32_t>(error)),
                                number, 0);
      rc != 0)
    return libseccomp_error(rc, "failing", name);
  return {};
}

Result<void> SyscallFilter::load_for_all_threads() {
  if (int rc = seccomp_load(m_context.get()); rc != 0)
    return libseccomp_error(rc, "loading", "the filter");
  return {};
}

Result<void> install_forbidden_syscall_report(const char* program, int exit_status) {
  for (size_t number = 0; number < kSyscallNames; ++number) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, static_cast<int>(number));
    if (!name) continue;
    std::strncpy(g_names[number].data(), name, kNameLength - 1);
    std::free(name);  // NOLINT: libseccomp allocates it with malloc
  }
  g_program = program;
  g_exit_status = exit_status;
  struct sigaction action = {};
  action.sa_sigaction = on_forbidden_syscall;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSYS, &action, nullptr) != 0) return errno_error("sigaction SIGSYS");
  return {};
}

}  // namespace haven::jail
