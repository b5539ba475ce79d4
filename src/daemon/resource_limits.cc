#include "daemon/resource_limits.h"

#include <nlohmann/json.hpp>

#include "base/units.h"

namespace haven::daemon {

Result<ResourceLimits> take_resource_limits(nlohmann::json& definition) {
  ResourceLimits limits;
  if (auto quota = definition.find("cpu_quota"); quota != definition.end()) {
    if (!quota->is_number() || quota->get<double>() < 0.01 || quota->get<double>() > 1024)
      return field_error(ErrorKind::invalid, "cpu_quota",
                         "expected CPUs' worth of time from 0.01 to 1024, e.g. 1.5");
    limits.cpu_quota = quota->get<double>();
    definition.erase(quota);
  }
  if (auto weight = definition.find("cpu_weight"); weight != definition.end()) {
    if (!weight->is_number_integer() || weight->get<int64_t>() < 1 ||
        weight->get<int64_t>() > 10000)
      return field_error(ErrorKind::invalid, "cpu_weight",
                         "expected an integer from 1 to 10000 (100 is the default)");
    limits.cpu_weight = static_cast<uint32_t>(weight->get<int64_t>());
    definition.erase(weight);
  }
  if (auto memory = definition.find("memory_limit"); memory != definition.end()) {
    std::string text = memory->is_number_unsigned() ? std::to_string(memory->get<uint64_t>())
                       : memory->is_string()        ? memory->get<std::string>()
                                                    : std::string("?");
    auto bytes = parse_size(text, MiB);
    if (!bytes || *bytes < 16 * MiB)
      return field_error(ErrorKind::invalid, "memory_limit",
                         "expected a size of at least 16M, such as \"1280M\"");
    limits.memory_limit = *bytes;
    definition.erase(memory);
  }
  return limits;
}

void put_resource_limits(const ResourceLimits& limits, nlohmann::json& definition) {
  if (limits.cpu_quota) definition["cpu_quota"] = *limits.cpu_quota;
  if (limits.cpu_weight) definition["cpu_weight"] = *limits.cpu_weight;
  if (limits.memory_limit) {
    uint64_t bytes = *limits.memory_limit;
    definition["memory_limit"] =
        bytes % MiB == 0 ? std::to_string(bytes / MiB) + "M" : std::to_string(bytes / 1024) + "K";
  }
}

}  // namespace haven::daemon
