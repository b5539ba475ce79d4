#pragma once

// What this host allows, found out without the code under test: a test that skips because
// Haven's own probe (Cgroups::detect, sys::set_immutable) said "not here" asks these first and
// fails instead when the host does allow it, so a broken probe cannot turn a test off.

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace haven::testing {

// Whether the effective capability set holds capability `bit` (/proc/self/status, CapEff).
inline bool has_capability(int bit) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> bit) & 1;
  }
  return false;
}

// chattr +i on `path` should work: CAP_LINUX_IMMUTABLE (9) and a file system with inode flags.
inline bool host_allows_immutable(const std::string& path) {
  if (!has_capability(9)) return false;
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool has_flags = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  ::close(fd);
  return has_flags;
}

// Whether a mounted, writable cgroup hierarchy (v1 or v2, from /proc/self/mounts) offers
// `controller`.
inline bool host_has_cgroup_controller(const std::string& controller) {
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string source, point, type, options;
    fields >> source >> point >> type >> options;
    if (::access(point.c_str(), W_OK) != 0) continue;
    if (type == "cgroup2") {
      std::ifstream listed(point + "/cgroup.controllers");
      std::string name;
      while (listed >> name)
        if (name == controller) return true;
    } else if (type == "cgroup") {
      std::istringstream list(options);
      std::string option;
      while (std::getline(list, option, ','))
        if (option == controller) return true;
    }
  }
  return false;
}

// Root on a host with the cpu and memory controllers: Haven's cgroups must work here.
inline bool host_has_cgroups() {
  return ::geteuid() == 0 && host_has_cgroup_controller("cpu") &&
         host_has_cgroup_controller("memory");
}

}  // namespace haven::testing
