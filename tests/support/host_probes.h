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

// chattr +i works beside `path` (a file): tried on a scratch file in the same folder with the
// raw ioctls. (CapEff alone would say yes inside a user namespace, where the kernel refuses.)
inline bool host_allows_immutable(const std::string& path) {
  std::string folder = path.substr(0, path.find_last_of('/') + 1);
  std::string scratch = folder + ".haven-immutable-probe-" + std::to_string(::getpid());
  int fd = ::open(scratch.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  int flags = 0;
  bool allowed = false;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
    int immutable = flags | FS_IMMUTABLE_FL;
    allowed = ::ioctl(fd, FS_IOC_SETFLAGS, &immutable) == 0;
    if (allowed) (void)::ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  ::close(fd);
  ::unlink(scratch.c_str());
  return allowed;
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
