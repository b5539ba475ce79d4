#include "store/repo_config.h"

#include <cstdint>

#include <nlohmann/json.hpp>

namespace haven::store {

std::string repo_config_to_json(const RepoConfig& config) {
  nlohmann::json json = {{"format", kRepoFormat},
                         {"version", config.version},
                         {"id", config.id},
                         {"chunk_size", config.chunk_size},
                         {"encrypted", config.encrypted},
                         {"append_only", config.append_only},
                         {"compression_level", config.compression_level}};
  return json.dump(2) + "\n";
}

namespace {

// A whole number field, read as written: a fraction, a negative number for an unsigned field
// or one out of range is an error quoting what the file says (not a truncated value).
Result<int64_t> whole_number(const nlohmann::json& json, const char* key, int64_t min,
                             int64_t max) {
  auto found = json.find(key);
  if (found == json.end()) return make_error("bad config: no '{}'", key);
  bool fits =
      found->is_number_integer() &&
      (found->is_number_unsigned() ? found->get<uint64_t>() <= static_cast<uint64_t>(max)
                                   : found->get<int64_t>() >= min && found->get<int64_t>() <= max);
  if (!fits)
    return make_error("bad config: '{}' is {}, not a whole number from {} to {}", key,
                      found->dump(), min, max);
  return found->get<int64_t>();
}

}  // namespace

Result<RepoConfig> repo_config_from_json(std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return make_error("not JSON");
  if (json.value("format", "") != kRepoFormat) return make_error("not a Haven repository");
  RepoConfig config;
  config.version = static_cast<int>(TRY(whole_number(json, "version", 0, 1 << 20)));
  config.chunk_size = static_cast<uint32_t>(TRY(whole_number(json, "chunk_size", 0, UINT32_MAX)));
  if (json.contains("compression_level"))
    config.compression_level =
        static_cast<int>(TRY(whole_number(json, "compression_level", -1000, 1000)));
  try {
    config.id = json.at("id").get<std::string>();
    config.encrypted = json.at("encrypted").get<bool>();
    config.append_only = json.value("append_only", false);
  } catch (const nlohmann::json::exception& error) {
    return make_error("bad config: {}", error.what());
  }
  if (config.version < kOldestRepoVersion || config.version > kRepoVersion)
    return make_error("format version {} (this Haven reads versions {} to {})", config.version,
                      kOldestRepoVersion, kRepoVersion);
  if (config.chunk_size < 4096 || config.chunk_size > (16u << 20) ||
      (config.chunk_size & (config.chunk_size - 1)))
    return make_error("chunk size {} is not a power of two from 4 KiB to 16 MiB",
                      config.chunk_size);
  if (config.compression_level < -7 || config.compression_level > 19)
    return make_error("compression level {} is not -7 to 19", config.compression_level);
  return config;
}

}  // namespace haven::store
