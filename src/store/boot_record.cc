#include "store/boot_record.h"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/sys.h"

namespace haven::store {
namespace {

std::string record_path(const Repository& repository, const std::string& snapshot) {
  return repository.path() + "/verify/" + snapshot + ".json";
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
  return write_file_atomic(record_path(repository, record.snapshot),
                           std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

Result<std::optional<BootRecord>> read_boot_record(const Repository& repository,
                                                   const std::string& snapshot) {
  std::string path = record_path(repository, snapshot);
  if (!TRY(sys::exists(path))) return std::nullopt;
  auto bytes = TRY(sys::read_file(path, 4 * kBootTranscriptBytes));
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
  return std::optional(std::move(record));
}

void remove_boot_record(const Repository& repository, const std::string& snapshot) {
  (void)sys::remove_file(record_path(repository, snapshot), true);  // best effort
}

}  // namespace haven::store
