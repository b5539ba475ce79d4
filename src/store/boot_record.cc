#include "store/boot_record.h"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/bytes.h"
#include "base/sys.h"
#include "store/blob.h"

namespace haven::store {
namespace {

constexpr size_t kMaxRecordBytes = 4 * kBootTranscriptBytes;

std::string record_path(const Repository& repository, const std::string& snapshot) {
  return repository.path() + "/verify/" + snapshot;
}
std::string legacy_path(const Repository& repository, const std::string& snapshot) {
  return record_path(repository, snapshot) + ".json";
}

Result<BootRecord> parse_record(std::span<const uint8_t> bytes, const std::string& path) {
  auto doc = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return make_error("{}: not JSON", path);
  BootRecord record;
  try {
    record.snapshot = doc.at("snapshot").get<std::string>();
    record.time = doc.at("time").get<int64_t>();
    record.passed = doc.at("passed").get<bool>();
    record.ready = doc.value("ready", "");
    record.seconds = doc.value("seconds", 0.0);
    record.reason = doc.value("reason", "");
    record.transcript = doc.value("transcript", "");
  } catch (const nlohmann::json::exception& error) {
    return make_error("{}: {}", path, error.what());
  }
  return record;
}

}  // namespace

Result<void> write_boot_record(const Repository& repository, const BootRecord& record) {
  std::string dir = repository.path() + "/verify";
  TRY(sys::ensure_directory(dir, 0700));
  std::string transcript = record.transcript;
  if (transcript.size() > kBootTranscriptBytes)
    transcript.erase(0, transcript.size() - kBootTranscriptBytes);
  nlohmann::json doc = {{"snapshot", record.snapshot}, {"time", record.time},
                        {"passed", record.passed},     {"ready", record.ready},
                        {"seconds", record.seconds},   {"reason", record.reason},
                        {"transcript", transcript}};
  // Console output is arbitrary bytes: invalid UTF-8 is replaced, not an error.
  std::string text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  auto blob = TRY(encode_blob(repository.codec(), BlobKind::boot_record, bytes_of(text),
                              bytes_of(record.snapshot)));
  TRY(write_file_atomic(record_path(repository, record.snapshot), blob, false, 0600));
  (void)sys::remove_file(legacy_path(repository, record.snapshot), true);  // replaced
  return {};
}

Result<std::optional<BootRecord>> read_boot_record(const Repository& repository,
                                                   const std::string& snapshot) {
  std::string path = record_path(repository, snapshot);
  if (TRY(sys::exists(path))) {
    auto blob = TRY(sys::read_file(path, kMaxRecordBytes + 4096));
    auto text = TRY(with_context(decode_blob(repository.codec(), BlobKind::boot_record, blob,
                                             kMaxRecordBytes, bytes_of(snapshot)),
                                 "boot record {}", path));
    auto record = TRY(parse_record(text, path));
    if (record.snapshot != snapshot)
      return make_error("boot record {} is of snapshot {}", path, record.snapshot);
    return std::optional(std::move(record));
  }
  // An older Haven's plain-text record: trusted only where nothing is sealed or tagged (no
  // Haven wrote one into a repository of version 3).
  std::string legacy = legacy_path(repository, snapshot);
  if (repository.keys() || repository.config().version >= 3 || !TRY(sys::exists(legacy)))
    return std::nullopt;
  auto bytes = TRY(sys::read_file(legacy, kMaxRecordBytes));
  auto record = TRY(parse_record(bytes, legacy));
  if (record.snapshot != snapshot)
    return make_error("boot record {} is of snapshot {}", legacy, record.snapshot);
  return std::optional(std::move(record));
}

void remove_boot_record(const Repository& repository, const std::string& snapshot) {
  // Best effort, both forms.
  (void)sys::remove_file(record_path(repository, snapshot), true);
  (void)sys::remove_file(legacy_path(repository, snapshot), true);
}

}  // namespace haven::store
