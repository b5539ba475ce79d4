#include "daemon/exit_reason.h"

#include <signal.h>
#include <string.h>

#include <fmt/format.h>

#include "vmm/stop_reason.h"

namespace haven::daemon {

Outcome classify_end(const ProcessEnd& end) {
  const std::string& said = end.last_log_line;
  auto with_log = [&](std::string text) {
    return said.empty() ? text : fmt::format("{}: {}", text, said);
  };
  if (end.signal) {
    if (end.kill_requested) return {VmState::stopped, "killed on request"};
    // SIGTERM before haven-vmm had set up its handling ends it by the signal itself.
    if (end.stop_requested && *end.signal == SIGTERM)
      return {VmState::stopped, "stopped on request"};
    return {VmState::crashed, fmt::format("haven-vmm was killed by signal {} ({})", *end.signal,
                                          ::strsignal(*end.signal))};
  }
  if (!end.exit_status) {  // adopted from an earlier daemon: only its disappearance is known
    if (end.stop_requested || end.kill_requested) return {VmState::stopped, "stopped on request"};
    return {VmState::stopped, with_log("haven-vmm exited (status unknown: started by an earlier "
                                       "havend)")};
  }
  int status = *end.exit_status;
  switch (status) {
    case vmm::kExitPowerOff:
      if (end.stop_requested) return {VmState::stopped, "the guest shut down on request"};
      return {VmState::stopped, "the guest powered off"};
    case vmm::kExitReset:
      return {VmState::stopped, "the guest reset (on_reboot is exit)"};
    case vmm::kExitUserQuit:
      return {VmState::stopped, "quit from the console"};
    case vmm::kExitNoBoot:
      return {VmState::crashed, said.empty() ? "the firmware found nothing to boot" : said};
    case vmm::kExitForbiddenSyscall:
      return {VmState::crashed,
              said.empty() ? "haven-vmm made a system call its seccomp filter forbids" : said};
    case vmm::kExitPanic:
      return {VmState::crashed, "the guest kernel panicked"};
    case vmm::kExitCrash:
      return {VmState::crashed, with_log("the guest crashed")};
    case vmm::kExitUsage:
      return {VmState::crashed, with_log("haven-vmm refused the VM config")};
    case vmm::kExitError:
      return {VmState::crashed, with_log("haven-vmm failed")};
    default:
      break;
  }
  if (status > 128 && status < 128 + 65) {
    int signo = status - 128;
    if (end.stop_requested && (signo == SIGTERM || signo == SIGINT || signo == SIGHUP))
      return {VmState::stopped, "stopped on request"};
    return {VmState::stopped, fmt::format("stopped by signal {} ({}) from outside havend", signo,
                                          ::strsignal(signo))};
  }
  return {VmState::crashed, with_log(fmt::format("haven-vmm exited with status {}", status))};
}

std::string last_message(std::string_view log) {
  while (!log.empty() && (log.back() == '\n' || log.back() == '\r' || log.back() == ' '))
    log.remove_suffix(1);
  size_t start = log.rfind('\n');
  std::string_view line = start == std::string_view::npos ? log : log.substr(start + 1);
  for (std::string_view prefix : {"haven-vmm: ", "error: ", "warning: "})
    if (line.starts_with(prefix)) line.remove_prefix(prefix.size());
  return std::string(line);
}

}  // namespace haven::daemon
