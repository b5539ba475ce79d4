#include "vmm/control_protocol.h"

#include <array>
#include <utility>

namespace haven::vmm::control {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<Op, const char*>, 9> kOps = {{
    {Op::status, "status"},
    {Op::stats, "stats"},
    {Op::pause, "pause"},
    {Op::resume, "resume"},
    {Op::power_button, "power_button"},
    {Op::snapshot, "snapshot"},
    {Op::fill, "fill"},
    {Op::backup_begin, "backup_begin"},
    {Op::backup_end, "backup_end"},
}};

const char* name_of(Op op) {
  for (const auto& [known, name] : kOps)
    if (known == op) return name;
  return "?";
}

std::unexpected<Error> bad(const char* field, const char* expected) {
  return field_error(ErrorKind::invalid, field, "expected {}", expected);
}

// The fields every message reads, each refusing absence and the wrong type.
Result<std::string> text(const json& message, const char* field) {
  if (!message.contains(field) || !message[field].is_string()) return bad(field, "text");
  return message[field].get<std::string>();
}

Result<uint64_t> count(const json& message, const char* field) {
  if (!message.contains(field) || !message[field].is_number_unsigned())
    return bad(field, "a number from 0 up");
  return message[field].get<uint64_t>();
}

Result<uint32_t> count32(const json& message, const char* field) {
  uint64_t value = TRY(count(message, field));
  if (value > UINT32_MAX) return bad(field, "a number below 2^32");
  return static_cast<uint32_t>(value);
}

Result<double> real(const json& message, const char* field) {
  if (!message.contains(field) || !message[field].is_number()) return bad(field, "a number");
  return message[field].get<double>();
}

Result<bool> flag(const json& message, const char* field) {
  if (!message.contains(field) || !message[field].is_boolean()) return bad(field, "true or false");
  return message[field].get<bool>();
}

Result<const json*> list(const json& message, const char* field) {
  if (!message.contains(field) || !message[field].is_array()) return bad(field, "a list");
  return &message[field];
}

json request_of(Op op, json fields) {
  fields["op"] = name_of(op);
  fields["version"] = kVersion;
  return fields;
}

json answer_of(json fields) {
  fields["ok"] = true;
  return fields;
}

}  // namespace

json request(Op op) {
  return request_of(op, json::object());
}

Result<Op> op_of(const json& request) {
  if (!request.is_object()) return make_error("a request is a JSON object");
  // A newer havend must speak this VMM's version (its status answer says which).
  if (request.contains("version") &&
      (!request["version"].is_number_integer() || request["version"].get<int64_t>() < 1 ||
       request["version"].get<int64_t>() > kVersion))
    return field_error(ErrorKind::internal, "version",
                       "{} is newer than this VMM's control protocol version {} (havend and "
                       "haven-vmm come from different Haven versions)",
                       request["version"].dump(), kVersion);
  std::string name = TRY(text(request, "op"));
  for (const auto& [op, known] : kOps)
    if (name == known) return op;
  return field_error(ErrorKind::invalid, "op",
                     "unknown op '{}' (status, stats, pause, resume, power_button, snapshot, "
                     "fill, backup_begin, backup_end)",
                     name);
}

json ok() {
  return answer_of(json::object());
}

json to_json(const StatusAnswer& answer) {
  return answer_of({{"paused", answer.paused}, {"version", answer.version}});
}

json to_json(const SnapshotRequest& request) {
  return request_of(Op::snapshot, {{"dir", request.dir}});
}

json to_json(const SnapshotAnswer& answer) {
  return answer_of({{"memory_bytes", answer.memory_bytes},
                    {"disk_bytes", answer.disk_bytes},
                    {"paused_ms", answer.paused_ms},
                    {"total_ms", answer.total_ms}});
}

json to_json(const FillRequest& request) {
  return request_of(Op::fill, {{"paused", request.paused}});
}

json to_json(const FillAnswer& answer) {
  return answer_of({{"disks", answer.disks}});
}

json to_json(const BackupBeginRequest& request) {
  json disks = json::array();
  for (const BackupDisk& disk : request.disks)
    disks.push_back({{"disk", disk.disk},
                     {"state", disk.state},
                     {"data", disk.data},
                     {"baseline", disk.baseline},
                     {"granularity", disk.granularity}});
  json fields = {{"disks", disks}};
  if (!request.nvram.empty()) fields["nvram"] = request.nvram;
  return request_of(Op::backup_begin, fields);
}

json to_json(const BackupBeginAnswer& answer) {
  json views = json::array();
  for (const BackupView& view : answer.views)
    views.push_back({{"incremental", view.incremental},
                     {"disk_bytes", view.disk_bytes},
                     {"granularity", view.granularity},
                     {"wanted_blocks", view.wanted_blocks},
                     {"path", view.path}});
  return answer_of({{"views", views}, {"nvram", answer.nvram}});
}

json to_json(const BackupEndRequest& request) {
  return request_of(
      Op::backup_end,
      {{"disk", request.disk}, {"commit", request.commit}, {"baseline", request.baseline}});
}

static Result<StatusAnswer> read_status_answer_from_json(const json& message) {
  StatusAnswer answer{TRY(flag(message, "paused")), 0};
  if (message.contains("version")) {
    if (!message["version"].is_number_integer()) return bad("version", "a number");
    answer.version = message["version"].get<int>();
  }
  return answer;
}

Result<SnapshotRequest> snapshot_request_from_json(const json& message) {
  SnapshotRequest request{TRY(text(message, "dir"))};
  if (request.dir.empty() || request.dir.front() != '/') return bad("dir", "an absolute directory");
  return request;
}

static Result<SnapshotAnswer> read_snapshot_answer_from_json(const json& message) {
  SnapshotAnswer answer;
  answer.memory_bytes = TRY(count(message, "memory_bytes"));
  answer.disk_bytes = TRY(count(message, "disk_bytes"));
  answer.paused_ms = TRY(real(message, "paused_ms"));
  answer.total_ms = TRY(real(message, "total_ms"));
  return answer;
}

Result<FillRequest> fill_request_from_json(const json& message) {
  return FillRequest{TRY(flag(message, "paused"))};
}

static Result<FillAnswer> read_fill_answer_from_json(const json& message) {
  return FillAnswer{TRY(count(message, "disks"))};
}

Result<BackupBeginRequest> backup_begin_request_from_json(const json& message) {
  BackupBeginRequest request;
  const nlohmann::json* disks = TRY(list(message, "disks"));
  if (disks->empty()) return bad("disks", "at least one disk");
  for (const nlohmann::json& item : *disks) {
    if (!item.is_object()) return bad("disks", "objects");
    BackupDisk disk;
    disk.disk = TRY(with_context(count(item, "disk"), "disks"));
    disk.state = TRY(with_context(text(item, "state"), "disks"));
    disk.data = TRY(with_context(text(item, "data"), "disks"));
    disk.baseline = TRY(with_context(text(item, "baseline"), "disks"));
    disk.granularity = TRY(with_context(count32(item, "granularity"), "disks"));
    if (disk.state.empty() || disk.data.empty()) return bad("disks", "'state' and 'data' files");
    request.disks.push_back(std::move(disk));
  }
  if (message.contains("nvram")) request.nvram = TRY(text(message, "nvram"));
  return request;
}

static Result<BackupBeginAnswer> read_backup_begin_answer_from_json(const json& message) {
  BackupBeginAnswer answer;
  for (const nlohmann::json& item : *TRY(list(message, "views"))) {
    BackupView view;
    view.incremental = TRY(with_context(flag(item, "incremental"), "views"));
    view.disk_bytes = TRY(with_context(count(item, "disk_bytes"), "views"));
    view.granularity = TRY(with_context(count32(item, "granularity"), "views"));
    view.wanted_blocks = TRY(with_context(count(item, "wanted_blocks"), "views"));
    view.path = TRY(with_context(text(item, "path"), "views"));
    if (view.granularity == 0) return bad("views", "a granularity above 0");
    answer.views.push_back(std::move(view));
  }
  // A VMM from before this protocol had types said nothing when there was no copy.
  if (message.contains("nvram")) answer.nvram = TRY(text(message, "nvram"));
  return answer;
}

Result<BackupEndRequest> backup_end_request_from_json(const json& message) {
  BackupEndRequest request;
  request.disk = TRY(count(message, "disk"));
  request.commit = TRY(flag(message, "commit"));
  request.baseline = TRY(text(message, "baseline"));
  return request;
}

Result<StatusAnswer> status_answer_from_json(const json& message) {
  return with_kind(read_status_answer_from_json(message), ErrorKind::internal);
}

Result<SnapshotAnswer> snapshot_answer_from_json(const json& message) {
  return with_kind(read_snapshot_answer_from_json(message), ErrorKind::internal);
}

Result<FillAnswer> fill_answer_from_json(const json& message) {
  return with_kind(read_fill_answer_from_json(message), ErrorKind::internal);
}

Result<BackupBeginAnswer> backup_begin_answer_from_json(const json& message) {
  return with_kind(read_backup_begin_answer_from_json(message), ErrorKind::internal);
}

}  // namespace haven::vmm::control
