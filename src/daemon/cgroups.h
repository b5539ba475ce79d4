#pragma once

// Puts each guest's VMM process in cgroups of its own, haven/NAME, and writes its limits
// there. Both cgroup versions are handled, per controller: the unified hierarchy (v2: cpu.max,
// cpu.weight, memory.max) when it has the controller, else the v1 hierarchy of that controller
// (cpu.cfs_quota_us, cpu.shares, memory.limit_in_bytes) — hosts mix them (this one has cpu and
// memory on v1 and an almost empty v2 mount).

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "daemon/resource_limits.h"

namespace haven::daemon {

class Cgroups {
 public:
  // Where the cpu and memory controllers are under `root` (normally /sys/fs/cgroup).
  static Cgroups detect(const std::string& root = "/sys/fs/cgroup");

  bool usable() const { return !m_cpu.empty() && !m_memory.empty(); }
  std::string describe() const;  // for logs: "cpu: v1 at ..., memory: v2 at ..."

  // Makes haven/NAME in each controller's hierarchy with `limits` written, and returns the
  // open cgroup.procs files: the child writes "0" to each before exec, so the VMM runs in
  // them from its first instruction.
  Result<std::vector<UniqueFd>> prepare(const std::string& name, const ResourceLimits& limits);
  // Removes haven/NAME once its process is gone (errors are ignored: nothing depends on it).
  void remove(const std::string& name);
  // The directories of haven/NAME (for tests and `show`).
  std::vector<std::string> directories(const std::string& name) const;

 private:
  struct Hierarchy {
    std::string path;  // the mount point
    bool v2 = false;
    bool empty() const { return path.empty(); }
  };
  Hierarchy m_cpu, m_memory;
};

}  // namespace haven::daemon
