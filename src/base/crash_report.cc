#include "base/crash_report.h"

#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>

#include "base/terminal.h"

namespace haven {
namespace {

const char* g_program = "haven";

// Async-signal-safe output: write(2) only.
void say(const char* text) {
  size_t left = std::strlen(text);
  while (left > 0) {
    ssize_t written = ::write(STDERR_FILENO, text, left);
    if (written <= 0) return;
    text += written;
    left -= static_cast<size_t>(written);
  }
}

void on_crash(int signal) {
  restore_terminal_before_dying();  // first, so the line below reads right
  say(g_program);
  say(": crashed on signal ");
  say(signal == SIGSEGV  ? "SIGSEGV"
      : signal == SIGBUS ? "SIGBUS"
      : signal == SIGILL ? "SIGILL"
      : signal == SIGFPE ? "SIGFPE"
                         : "SIGABRT");
  say("; its stack (addr2line -f -C -e BINARY ADDRESS):\n");
  void* frames[64];
  int count = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, count, STDERR_FILENO);
  // Die of the same signal: the default action, re-raised when the handler returns.
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

void install_crash_report(const char* program) {
  g_program = program;
  // backtrace() loads libgcc on its first call, which may allocate: do it now, not in a crash.
  void* warm_up[1];
  ::backtrace(warm_up, 1);
  struct sigaction action {};
  action.sa_handler = on_crash;
  action.sa_flags = SA_RESETHAND | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
    ::sigaction(signal, &action, nullptr);
}

}  // namespace haven
