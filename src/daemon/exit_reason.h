#pragma once

// How a guest's haven-vmm ended, in the daemon's terms: which state the guest is left in
// (stopped when it ended as asked or the guest chose to, crashed otherwise) and one line why.

#include <optional>
#include <string>
#include <string_view>

#include "daemon/vm_record.h"

namespace haven::daemon {

struct ProcessEnd {
  std::optional<int> exit_status;  // when it exited
  std::optional<int> signal;       // when a signal killed it
  bool stop_requested = false;     // havend sent SIGTERM
  bool kill_requested = false;     // havend sent SIGKILL
  std::string last_log_line;       // haven-vmm's last message, if any
};

struct Outcome {
  VmState state;
  std::string reason;
};

Outcome classify_end(const ProcessEnd& end);

// The last non-empty line of a log, without haven-vmm's "haven-vmm: " and "error: " prefixes.
std::string last_message(std::string_view log);

}  // namespace haven::daemon
