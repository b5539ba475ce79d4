#pragma once

// What POST /v1/restore asks for when it names a backup repository (daemon/backup_restore.h
// carries it out), read from the request's JSON body.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "vmm/restored_boot.h"

namespace haven::daemon {

struct BackupRestoreRequest {
  std::string repo;  // absolute
  std::string snapshot;
  std::string name;
  std::string passphrase;
  bool instant = true;
  bool fill_paused = false;  // instant: the background fill starts paused
  // How it boots instead of as the snapshot's VM config says (a bare disk needs a kernel or a
  // firmware).
  vmm::BootChoice boot;
  std::optional<uint64_t> memory;
  std::optional<uint32_t> cpus;
};

// {"repo": "/abs", "snapshot": ID, "name": NEW, "instant": true, "fill_paused": false,
// "passphrase", "kernel", "initrd", "cmdline", "firmware": "bios|uefi", "memory": "512M",
// "cpus": 2}. Errors start with the field ("firmware: 'efi' is not bios or uefi ...").
Result<BackupRestoreRequest> backup_restore_request_from_json(const nlohmann::json& body);

}  // namespace haven::daemon
