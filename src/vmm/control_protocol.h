#pragma once

// What havend says to a haven-vmm over its control socket (vmm/control_socket.h), as types
// both sides share: each request and answer is one JSON object on one line, built and read
// only here. Reading refuses a missing or mistyped field with an error naming it, so neither
// side ever takes a default for something the other forgot to send.
//
// Every request carries "op" and "version". A VMM serves its own version and every older one
// (so a VMM outlives an older havend) and refuses newer ones; its "status" answer says its
// version, so that a newer havend can speak down to a VMM it adopted from an older one. A
// VMM older than versions ignores the field (the ops below are all it ever knew). "stats" is
// the one free-form answer: counters havend passes through to its metrics as they are.
// Answers that do not read are the VMM's fault: their errors are internal, never invalid.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace haven::vmm::control {

inline constexpr int kVersion = 1;

enum class Op {
  status,
  stats,
  pause,
  resume,
  power_button,
  snapshot,
  fill,
  backup_begin,
  backup_end
};

// A request of an op without arguments: {"op": NAME, "version": 1}.
nlohmann::json request(Op op);
// The op of a request, after checking its version.
Result<Op> op_of(const nlohmann::json& request);
// {"ok": true}: the answer of an op with nothing to say.
nlohmann::json ok();

struct StatusAnswer {
  bool paused = false;
  int version = 0;  // the VMM's protocol version (0: from before versions)
};

struct SnapshotRequest {
  std::string dir;  // absolute
};
struct SnapshotAnswer {
  uint64_t memory_bytes = 0;
  uint64_t disk_bytes = 0;
  double paused_ms = 0;
  double total_ms = 0;
};

// Holds back (or lets go on) the background fill of disks being restored.
struct FillRequest {
  bool paused = false;
};
struct FillAnswer {
  uint64_t disks = 0;  // how many disks are being restored
};

// One disk's point-in-time view for a backup (block/point_in_time.h).
struct BackupDisk {
  uint64_t disk = 0;         // index in the VM config
  std::string state, data;   // the view's files, absolute
  std::string baseline;      // the tracking baseline the backup's parent was taken at ("": none)
  uint32_t granularity = 0;  // the backup's chunk size
};
struct BackupBeginRequest {
  std::vector<BackupDisk> disks;  // at least one
  std::string nvram;  // where to copy a UEFI guest's variables ("": not wanted, not sent)
};
struct BackupView {
  bool incremental = false;
  uint64_t disk_bytes = 0;
  uint32_t granularity = 0;
  uint64_t wanted_blocks = 0;
  std::string path;  // the disk image
};
struct BackupBeginAnswer {
  std::vector<BackupView> views;  // one per requested disk, in order
  std::string nvram;              // the variables' copy, "" when the guest has none
};
struct BackupEndRequest {
  uint64_t disk = 0;
  bool commit = false;
  std::string baseline;  // the name the committed tracking baseline takes
};

nlohmann::json to_json(const StatusAnswer& answer);
nlohmann::json to_json(const SnapshotRequest& request);
nlohmann::json to_json(const SnapshotAnswer& answer);
nlohmann::json to_json(const FillRequest& request);
nlohmann::json to_json(const FillAnswer& answer);
nlohmann::json to_json(const BackupBeginRequest& request);
nlohmann::json to_json(const BackupBeginAnswer& answer);
nlohmann::json to_json(const BackupEndRequest& request);

Result<StatusAnswer> status_answer_from_json(const nlohmann::json& json);
Result<SnapshotRequest> snapshot_request_from_json(const nlohmann::json& json);
Result<SnapshotAnswer> snapshot_answer_from_json(const nlohmann::json& json);
Result<FillRequest> fill_request_from_json(const nlohmann::json& json);
Result<FillAnswer> fill_answer_from_json(const nlohmann::json& json);
Result<BackupBeginRequest> backup_begin_request_from_json(const nlohmann::json& json);
Result<BackupBeginAnswer> backup_begin_answer_from_json(const nlohmann::json& json);
Result<BackupEndRequest> backup_end_request_from_json(const nlohmann::json& json);

}  // namespace haven::vmm::control
