#include "daemon/cgroups.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>

#include "base/sys.h"

namespace haven::daemon {
namespace {

constexpr uint64_t kCpuPeriodUs = 100000;

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

bool v2_has(const std::string& mount, const std::string& controller) {
  auto controllers = sys::read_until_end(mount + "/cgroup.controllers", 4096);
  if (!controllers) return false;
  std::string list = " " + *controllers + " ";
  for (char& c : list)
    if (c == '\n') c = ' ';
  return list.find(" " + controller + " ") != std::string::npos;
}

Result<void> write_value(const std::string& file, const std::string& value) {
  auto fd = TRY(sys::open(file, O_WRONLY | O_CLOEXEC));
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(value.data()), value.size());
  return with_context(sys::write_all(fd.get(), bytes), "write '{}' to {}", value, file);
}

}  // namespace

Cgroups Cgroups::detect(const std::string& root) {
  Cgroups cgroups;
  // Pure v2 (/sys/fs/cgroup is the unified mount), or a hybrid host's v2 mount beside v1 ones.
  for (const std::string& unified : {root, root + "/unified"}) {
    if (!exists(unified + "/cgroup.controllers")) continue;
    if (cgroups.m_cpu.empty() && v2_has(unified, "cpu")) cgroups.m_cpu = {unified, true};
    if (cgroups.m_memory.empty() && v2_has(unified, "memory")) cgroups.m_memory = {unified, true};
  }
  if (cgroups.m_cpu.empty() && exists(root + "/cpu/cpu.shares"))
    cgroups.m_cpu = {root + "/cpu", false};
  if (cgroups.m_memory.empty() && exists(root + "/memory/memory.limit_in_bytes"))
    cgroups.m_memory = {root + "/memory", false};
  return cgroups;
}

std::string Cgroups::describe() const {
  auto one = [](const Hierarchy& h) {
    return h.empty() ? std::string("none") : fmt::format("v{} at {}", h.v2 ? 2 : 1, h.path);
  };
  return fmt::format("cpu: {}, memory: {}", one(m_cpu), one(m_memory));
}

std::vector<std::string> Cgroups::directories(const std::string& name) const {
  std::vector<std::string> dirs;
  for (const Hierarchy* h : {&m_cpu, &m_memory}) {
    std::string dir = h->path + "/haven/" + name;
    if (!h->empty() && (dirs.empty() || dirs.back() != dir)) dirs.push_back(dir);
  }
  return dirs;
}

Result<std::vector<UniqueFd>> Cgroups::prepare(const std::string& name,
                                               const ResourceLimits& limits) {
  if (!usable())
    return make_error("no cgroup hierarchy with the cpu and memory controllers ({})", describe());
  for (const Hierarchy* h : {&m_cpu, &m_memory}) {
    TRY(sys::ensure_directory(h->path + "/haven", 0755));
    if (h->v2) {  // the controllers must be enabled for haven/'s children
      std::string control = h->path + "/haven/cgroup.subtree_control";
      (void)write_value(h->path + "/cgroup.subtree_control", h == &m_cpu ? "+cpu" : "+memory");
      TRY(write_value(control, h == &m_cpu ? "+cpu" : "+memory"));
    }
    TRY(sys::ensure_directory(h->path + "/haven/" + name, 0755));
  }
  std::string cpu = m_cpu.path + "/haven/" + name;
  std::string memory = m_memory.path + "/haven/" + name;
  uint32_t weight = limits.cpu_weight.value_or(100);
  std::string quota =
      limits.cpu_quota
          ? std::to_string(static_cast<uint64_t>(std::llround(*limits.cpu_quota * kCpuPeriodUs)))
          : std::string();
  if (m_cpu.v2) {
    TRY(write_value(cpu + "/cpu.weight", std::to_string(weight)));
    TRY(write_value(cpu + "/cpu.max",
                    (quota.empty() ? "max" : quota) + " " + std::to_string(kCpuPeriodUs)));
  } else {
    // v1 shares: 1024 is the default, as weight 100 is in v2.
    TRY(write_value(cpu + "/cpu.shares",
                    std::to_string(std::max<uint64_t>(2, weight * 1024 / 100))));
    TRY(write_value(cpu + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs)));
    TRY(write_value(cpu + "/cpu.cfs_quota_us", quota.empty() ? "-1" : quota));
  }
  std::string limit = limits.memory_limit ? std::to_string(*limits.memory_limit) : "";
  if (m_memory.v2)
    TRY(write_value(memory + "/memory.max", limit.empty() ? "max" : limit));
  else
    TRY(write_value(memory + "/memory.limit_in_bytes", limit.empty() ? "-1" : limit));

  std::vector<UniqueFd> procs;
  for (const std::string& dir : directories(name))
    procs.push_back(TRY(sys::open(dir + "/cgroup.procs", O_WRONLY | O_CLOEXEC)));
  return procs;
}

void Cgroups::remove(const std::string& name) {
  for (const std::string& dir : directories(name)) ::rmdir(dir.c_str());
}

}  // namespace haven::daemon
