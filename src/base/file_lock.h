#pragma once

// Advisory whole-file locks (flock) that say who holds them. A lock belongs to one open file
// description: it lasts until every fd sharing that description is closed, and a second open()
// of the same file conflicts with it even within one process.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace haven::sys {

enum class LockMode { shared, exclusive };

// Takes a lock on the open file `fd` without waiting: true when taken, false when another open
// file holds a conflicting one. `path` names the file in errors.
Result<bool> try_lock(int fd, LockMode mode, const std::string& path);
// The same, but on a file system that has no locks (ENOLCK: NFS without lockd) it warns and
// answers true: the file is used unlocked, as before there were locks (disk images, whose
// users would otherwise lose their guests; never a daemon's own claim).
Result<bool> try_lock_where_supported(int fd, LockMode mode, const std::string& path);

// The processes holding flock()s on the file `fd` is open on, from /proc/locks (pids as this
// process's namespace sees them); empty when none is found.
std::vector<pid_t> lock_holders(int fd);
// The same out of a /proc/locks text, for the file (device, inode; any device when none is
// given); waiters ("->") are not holders. Each pid once, in the order found.
std::vector<pid_t> parse_lock_holders(std::string_view proc_locks, std::optional<dev_t> device,
                                      ino_t inode);

// "pid 1234 (haven-vmm)" for each holder, comma separated; "another process" when none is
// known (the holder is in another pid namespace, or it let go meanwhile).
std::string describe_lock_holders(int fd);

}  // namespace haven::sys
