#include "store/repo_config.h"

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

Result<RepoConfig> repo_config_from_json(std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return make_error("not JSON");
  if (json.value("format", "") != kRepoFormat) return make_error("not a Haven repository");
  RepoConfig config;
  try {
    config.version = json.at("version").get<int>();
    config.id = json.at("id").get<std::string>();
    config.chunk_size = json.at("chunk_size").get<uint32_t>();
    config.encrypted = json.at("encrypted").get<bool>();
    config.append_only = json.value("append_only", false);
    config.compression_level = json.value("compression_level", 1);
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
