#pragma once

// What one guest may take of the host beyond its vCPUs and RAM: a CPU quota (in CPUs), a CPU
// weight against the other guests, and a memory limit on its whole VMM process. Part of a VM
// definition; applied through cgroups (cgroups.h).

#include <cstdint>
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"

namespace haven::daemon {

struct ResourceLimits {
  std::optional<double> cpu_quota;       // CPUs' worth of time, e.g. 1.5 (none: unlimited)
  std::optional<uint32_t> cpu_weight;    // 1 to 10000, 100 is the default share
  std::optional<uint64_t> memory_limit;  // bytes for the VMM process (guest RAM + overhead)
  bool operator==(const ResourceLimits&) const = default;
};

// The VMM's own memory beyond the guest's RAM that the default limit allows.
inline constexpr uint64_t kVmmMemoryOverhead = 256ull << 20;

// Takes "cpu_quota", "cpu_weight" and "memory_limit" out of a definition's JSON object (the
// rest is the VM config). Errors name the field.
Result<ResourceLimits> take_resource_limits(nlohmann::json& definition);
void put_resource_limits(const ResourceLimits& limits, nlohmann::json& definition);

}  // namespace haven::daemon
