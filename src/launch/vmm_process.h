#pragma once

// The one way a haven-vmm process is started, by havend's supervisor and by the CLI's boot
// verification alike: fork, set the child up with async-signal-safe calls only (the parent
// may have other threads), exec, and return once the exec really happened or say why not.
// The jail (namespaces, seccomp, dropped privileges) belongs here too, so that no path
// starts a VMM without it.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace haven::launch {

struct VmmProcess {
  // The executable (an absolute path) and its arguments; args[0] is the executable.
  std::vector<std::string> args;
  // The child's standard streams (borrowed; -1: /dev/null).
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // A memfd with an encrypted repository's keys (store/key_handoff.h), handed over as fd 3
  // and announced in the child's environment (borrowed; -1: none). The passphrase never is:
  // HAVEN_PASSPHRASE is left out of the child's environment.
  int keys_fd = -1;
  // cgroup.procs files (borrowed) the child writes itself into before exec.
  std::vector<int> cgroup_procs;
  // Its own session (havend: a signal to the daemon's group does not reach its guests).
  bool new_session = false;
  // Killed when the parent dies (a throwaway VM of a CLI command).
  bool die_with_parent = false;
};

// Starts the process; returns its pid once exec succeeded. The child has no other fd open
// than its three streams and the keys, an empty signal mask, and the parent's environment
// without the passphrase. A failed exec or cgroup join is an error naming the executable;
// the child is reaped then.
Result<pid_t> start_vmm_process(const VmmProcess& process);

}  // namespace haven::launch
