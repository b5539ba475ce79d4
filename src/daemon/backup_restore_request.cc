#include "daemon/backup_restore_request.h"

#include <nlohmann/json.hpp>

namespace haven::daemon {

Result<BackupRestoreRequest> backup_restore_request_from_json(const nlohmann::json& body) {
  BackupRestoreRequest request;
  for (const char* field : {"repo", "snapshot", "name"})
    if (!body.contains(field) || !body[field].is_string())
      return field_error(ErrorKind::invalid, field, "missing");
  request.repo = body["repo"];
  request.snapshot = body["snapshot"];
  request.name = body["name"];
  for (auto [field, target] :
       {std::pair{"instant", &request.instant}, std::pair{"fill_paused", &request.fill_paused}})
    if (body.contains(field)) {
      if (!body[field].is_boolean())
        return field_error(ErrorKind::invalid, field, "expected true or false");
      *target = body[field].get<bool>();
    }
  if (body.contains("passphrase")) {
    if (!body["passphrase"].is_string())
      return field_error(ErrorKind::invalid, "passphrase", "not text");
    request.passphrase = body["passphrase"].get<std::string>();
  }
  for (auto [field, target] :
       {std::pair{"kernel", &request.boot.kernel}, std::pair{"initrd", &request.boot.initrd},
        std::pair{"cmdline", &request.boot.cmdline}})
    if (body.contains(field)) {
      if (!body[field].is_string()) return field_error(ErrorKind::invalid, field, "not text");
      *target = body[field].get<std::string>();
    }
  if (body.contains("firmware")) {
    if (!body["firmware"].is_string())
      return field_error(ErrorKind::invalid, "firmware", "expected \"bios\" or \"uefi\"");
    request.boot.firmware = TRY(vmm::parse_boot_firmware(body["firmware"].get<std::string>()));
  }
  if (body.contains("memory")) {
    if (!body["memory"].is_string())
      return field_error(ErrorKind::invalid, "memory", "expected a size like \"512M\"");
    request.memory = TRY(about_field(vmm::parse_memory(body["memory"].get<std::string>()),
                                     ErrorKind::invalid, "memory"));
  }
  if (body.contains("cpus")) {
    if (!body["cpus"].is_number_integer())
      return field_error(ErrorKind::invalid, "cpus", "not a number");
    request.cpus =
        TRY(about_field(vmm::parse_cpus(body["cpus"].get<int64_t>()), ErrorKind::invalid, "cpus"));
  }
  return request;
}

}  // namespace haven::daemon
