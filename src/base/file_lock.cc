#include "base/file_lock.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "base/log.h"
#include "base/sys.h"

namespace haven::sys {

Result<bool> try_lock(int fd, LockMode mode, const std::string& path) {
  int operation = (mode == LockMode::exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  for (;;) {
    if (::flock(fd, operation) == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    if (errno != EINTR) return errno_error("flock {}", path);
  }
}

Result<bool> try_lock_where_supported(int fd, LockMode mode, const std::string& path) {
  int operation = (mode == LockMode::exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  for (;;) {
    if (::flock(fd, operation) == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    if (errno == ENOLCK || errno == EOPNOTSUPP) {
      // A file system without locks (NFS without lockd): the file is used unlocked, as it
      // was before locks, and the user is told.
      log::warn("{}: cannot be locked here ({}): nothing stops another process using it", path,
                std::strerror(errno));
      return true;
    }
    if (errno != EINTR) return errno_error("flock {}", path);
  }
}

namespace {

// The next space-separated field of `line`, consumed.
std::string_view next_field(std::string_view& line) {
  size_t start = line.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(start);
  size_t end = std::min(line.find(' '), line.size());
  std::string_view field = line.substr(0, end);
  line.remove_prefix(end);
  return field;
}

template <typename T>
bool parse_number(std::string_view text, T& value, int base) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::vector<pid_t> parse_lock_holders(std::string_view proc_locks, std::optional<dev_t> device,
                                      ino_t inode) {
  // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": number, class, mode, access, pid,
  // major:minor:inode (the device numbers in hex), range. A waiter's line has "->" after the
  // number.
  std::vector<pid_t> holders;
  while (!proc_locks.empty()) {
    size_t newline = std::min(proc_locks.find('\n'), proc_locks.size());
    std::string_view line = proc_locks.substr(0, newline);
    proc_locks.remove_prefix(std::min(newline + 1, proc_locks.size()));
    next_field(line);  // "1:"
    std::string_view kind = next_field(line);
    if (kind != "FLOCK") continue;  // waiters ("->"), POSIX and OFD locks
    next_field(line);
    next_field(line);
    pid_t pid = 0;
    if (!parse_number(next_field(line), pid, 10) || pid <= 0) continue;
    std::string_view file = next_field(line);
    size_t first = file.find(':'), second = file.rfind(':');
    if (first == std::string_view::npos || first == second) continue;
    unsigned major = 0, minor = 0;
    unsigned long long number = 0;
    if (!parse_number(file.substr(0, first), major, 16) ||
        !parse_number(file.substr(first + 1, second - first - 1), minor, 16) ||
        !parse_number(file.substr(second + 1), number, 10))
      continue;
    if ((device && ::makedev(major, minor) != *device) || number != inode) continue;
    if (std::find(holders.begin(), holders.end(), pid) == holders.end()) holders.push_back(pid);
  }
  return holders;
}

std::vector<pid_t> lock_holders(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  auto text = read_until_end("/proc/locks", 64 << 20);
  if (!text) return {};
  auto holders = parse_lock_holders(*text, st.st_dev, st.st_ino);
  // On overlayfs or a btrfs subvolume, stat's device is not the one /proc/locks shows: the
  // inode alone then (it only names who holds it in a message).
  if (holders.empty()) holders = parse_lock_holders(*text, std::nullopt, st.st_ino);
  return holders;
}

std::string describe_lock_holders(int fd) {
  std::string described;
  for (pid_t pid : lock_holders(fd)) {
    auto comm = read_until_end("/proc/" + std::to_string(pid) + "/comm", 64);
    std::string name = comm ? *comm : std::string();
    while (!name.empty() && name.back() == '\n') name.pop_back();
    if (!described.empty()) described += ", ";
    described += "pid " + std::to_string(pid);
    if (pid == ::getpid())
      described += " (this process)";
    else if (!name.empty())
      described += " (" + name + ")";
  }
  return described.empty() ? "another process" : described;
}

}  // namespace haven::sys
