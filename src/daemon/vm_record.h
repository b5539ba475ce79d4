#pragma once

// What havend knows about one guest: its definition (a name and the VM config haven-vmm
// runs) and its runtime record (state, why it last stopped, when). Both have a JSON form; the
// definition is what clients send and the daemon persists.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "daemon/resource_limits.h"
#include "vmm/vm_config.h"

namespace haven::daemon {

// 1 to 63 characters: lower-case letters, digits, '-', '_' and '.', starting with a letter or
// digit. Names become file names under the state directory, so nothing else is allowed.
Result<void> validate_vm_name(std::string_view name);

enum class VmState { stopped, starting, running, paused, stopping, crashed };
std::string_view to_string(VmState state);
// A VMM process exists for the guest (starting, running, paused or stopping).
bool is_up(VmState state);

struct VmDefinition {
  std::string name;
  vmm::VmConfig config;
  ResourceLimits limits;
};

// {"name": "vm1", "kernel": ..., every field of the VM config JSON, and the resource limits
// "cpu_quota", "cpu_weight", "memory_limit"}. The console is the
// daemon's business (it logs it), so clients may not set it. Errors name the field.
Result<VmDefinition> vm_definition_from_json(std::string_view text);
std::string vm_definition_to_json(const VmDefinition& definition);

// The runtime side, kept in memory by the supervisor and written beside the definition.
struct VmStatus {
  VmState state = VmState::stopped;
  std::optional<int> pid;          // the haven-vmm process while it runs
  int64_t started_at = 0;          // seconds since the epoch of the last start (0: never)
  int64_t stopped_at = 0;          // ... of the last stop
  std::optional<int> exit_status;  // haven-vmm's, when it exited
  std::optional<int> exit_signal;  // the signal that killed it, when one did
  std::string reason;              // one line: why it last stopped ("" while running)
};

// A UEFI guest without an `nvram` of its own gets one that havend keeps with it, in
// `disk_dir` (made here; removed with the guest): the VMM makes the store from OVMF's template
// at the first start, and boot entries then survive restarts.
Result<void> keep_nvram(VmDefinition& definition, const std::string& disk_dir);

nlohmann::json vm_status_to_json(const VmStatus& status);
Result<VmStatus> vm_status_from_json(std::string_view text);
std::optional<VmState> vm_state_from_string(std::string_view text);

}  // namespace haven::daemon
