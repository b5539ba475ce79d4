#pragma once

// config.json at a repository's root: what it is, which format version, how data is cut and
// whether it is encrypted. Not secret; written once by `haven repo init`.

#include <cstdint>
#include <string>

#include "base/error.h"

namespace haven::store {

inline constexpr const char* kRepoFormat = "haven-repository";
inline constexpr int kRepoVersion = 1;

struct RepoConfig {
  int version = kRepoVersion;
  std::string id;                  // 32 hex digits, random
  uint32_t chunk_size = 64 << 10;  // bytes; disk offsets are cut at multiples of it
  bool encrypted = false;
  bool append_only = false;  // snapshots and data may be added, never removed
  int compression_level = 3;
};

std::string repo_config_to_json(const RepoConfig& config);
Result<RepoConfig> repo_config_from_json(std::string_view text);

}  // namespace haven::store
