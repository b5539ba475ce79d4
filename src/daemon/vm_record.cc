#include "daemon/vm_record.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "base/sys.h"
#include "vmm/snapshot_layout.h"

namespace haven::daemon {

Result<void> validate_vm_name(std::string_view name) {
  if (name.empty() || name.size() > 63)
    return field_error(ErrorKind::invalid, "name", "'{}' must be 1 to 63 characters", name);
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = alnum(name[0]);
  for (char c : name) ok = ok && (alnum(c) || c == '-' || c == '_' || c == '.');
  if (!ok)
    return field_error(
        ErrorKind::invalid, "name",
        "'{}' may hold only a-z, 0-9, '-', '_' and '.', starting with a letter or digit", name);
  return {};
}

std::string_view to_string(VmState state) {
  switch (state) {
    case VmState::stopped:
      return "stopped";
    case VmState::starting:
      return "starting";
    case VmState::running:
      return "running";
    case VmState::paused:
      return "paused";
    case VmState::stopping:
      return "stopping";
    case VmState::crashed:
      return "crashed";
  }
  return "unknown";
}

Result<VmDefinition> vm_definition_from_json(std::string_view text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object())
    return field_error(ErrorKind::invalid, "body", "not a JSON object");
  auto name = json.find("name");
  if (name == json.end() || !name->is_string())
    return field_error(ErrorKind::invalid, "name", "missing (a string)");
  VmDefinition definition;
  definition.name = name->get<std::string>();
  TRY(validate_vm_name(definition.name));
  if (json.contains("console") || json.contains("virtio_console") || json.contains("console_log"))
    return field_error(ErrorKind::invalid, "console",
                       "set by havend (GET /v1/vms/NAME/console reads it)");
  json.erase("name");
  definition.limits = TRY(take_resource_limits(json));
  // A guest that brings its own boot restarts when it reboots, as a PC does (its installer's
  // last step is a reboot), unless the definition says otherwise.
  bool on_reboot_given = json.contains("on_reboot");
  definition.config = TRY(vmm::vm_config_from_json(json.dump()));
  if (!on_reboot_given && definition.config.firmware != vmm::Firmware::none)
    definition.config.on_reboot = vmm::RebootAction::restart;
  TRY(vmm::validate(definition.config));
  return definition;
}

std::string vm_definition_to_json(const VmDefinition& definition) {
  nlohmann::json json = nlohmann::json::parse(vmm::vm_config_to_json(definition.config));
  json.erase("console");
  json.erase("console_log");
  json.erase("virtio_console");
  json["name"] = definition.name;
  put_resource_limits(definition.limits, json);
  return json.dump(2);
}

Result<void> keep_nvram(VmDefinition& definition, const std::string& disk_dir) {
  if (definition.config.firmware != vmm::Firmware::uefi || definition.config.nvram) return {};
  std::string parent = disk_dir.substr(0, disk_dir.rfind('/'));
  for (const std::string& dir : {parent, disk_dir}) TRY(sys::ensure_directory(dir, 0700));
  definition.config.nvram = disk_dir + "/" + vmm::kSnapshotNvramName;
  return {};
}

bool is_up(VmState state) {
  return state == VmState::starting || state == VmState::running || state == VmState::paused ||
         state == VmState::stopping;
}

std::optional<VmState> vm_state_from_string(std::string_view text) {
  for (VmState state : {VmState::stopped, VmState::starting, VmState::running, VmState::paused,
                        VmState::stopping, VmState::crashed})
    if (to_string(state) == text) return state;
  return std::nullopt;
}

nlohmann::json vm_status_to_json(const VmStatus& status) {
  nlohmann::json json = {{"state", to_string(status.state)},
                         {"started_at", status.started_at},
                         {"stopped_at", status.stopped_at},
                         {"reason", status.reason}};
  if (status.pid) json["pid"] = *status.pid;
  if (status.exit_status) json["exit_status"] = *status.exit_status;
  if (status.exit_signal) json["exit_signal"] = *status.exit_signal;
  return json;
}

Result<VmStatus> vm_status_from_json(std::string_view text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return make_error("not a JSON object");
  VmStatus status;
  try {
    auto state = vm_state_from_string(json.at("state").get<std::string>());
    if (!state) return make_error("state: unknown");
    status.state = *state;
    status.started_at = json.value("started_at", int64_t{0});
    status.stopped_at = json.value("stopped_at", int64_t{0});
    status.reason = json.value("reason", std::string());
    if (json.contains("pid")) status.pid = json["pid"].get<int>();
    if (json.contains("exit_status")) status.exit_status = json["exit_status"].get<int>();
    if (json.contains("exit_signal")) status.exit_signal = json["exit_signal"].get<int>();
  } catch (const nlohmann::json::exception& error) {
    return make_error("{}", error.what());
  }
  return status;
}

}  // namespace haven::daemon
