#pragma once

#include <string>

namespace haven::vmm {

// Why a VM stopped running, and what haven-vmm's exit status says about it.
enum class StopKind {
  power_off,    // the guest powered off (ACPI S5)
  reset,        // the guest asked for a reset
  panic,        // the guest kernel panicked (pvpanic)
  crash,        // triple fault, KVM internal error, failed entry: the guest cannot continue
  host_signal,  // SIGINT/SIGTERM/SIGHUP to haven-vmm
  user_quit,    // the console's escape sequence (Ctrl-A x)
  no_boot,      // the firmware found nothing to boot, or started no boot loader in time
  error,        // Haven itself failed
};

struct StopReason {
  StopKind kind;
  std::string detail;  // one line for the user; for crashes it carries the vCPU registers
  int signal = 0;      // for host_signal
};

// Exit statuses of haven-vmm and `haven run` (documented in the README):
inline constexpr int kExitPowerOff = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCrash = 3;
inline constexpr int kExitPanic = 4;
inline constexpr int kExitReset = 5;
inline constexpr int kExitUserQuit = 6;
inline constexpr int kExitNoBoot = 7;
inline constexpr int kExitForbiddenSyscall = 8;  // the seccomp filter stopped a call

int exit_status(const StopReason& reason);

}  // namespace haven::vmm
