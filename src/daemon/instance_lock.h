#pragma once

// One havend per state directory and per API socket: each is claimed by an exclusive lock on a
// file beside it (STATE/havend.lock, SOCKET.lock), held for the daemon's life. Two daemons on
// one state directory would each adopt and stop the other's guests and overwrite its records;
// a second daemon on one socket would unlink the first's and take its clients.

#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace haven::daemon {

// Locks `lock_path` (made 0600 when missing) for this process, writing its pid there; `what`
// names the claimed thing in the error: "state directory /var/lib/haven is in use by another
// havend (pid 123)". The lock goes with the returned fd (and its copies in a forked child).
Result<UniqueFd> claim_instance_lock(const std::string& lock_path, const std::string& what);

// The API socket's claim: its directory made when missing (say /run/haven), SOCKET.lock locked.
Result<UniqueFd> claim_socket(const std::string& socket_path);

// Writes this process's pid into the claimed lock file again: a daemon that forked away from
// its parent after claiming names itself, not the parent that exited.
Result<void> record_instance_pid(int lock_fd, const std::string& lock_path);

}  // namespace haven::daemon
