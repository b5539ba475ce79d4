#pragma once

// config.json at a repository's root: what it is, which format version, how data is cut and
// whether it is encrypted. Not secret; written once by `haven repo init`.

#include <cstdint>
#include <string>

#include "base/error.h"

namespace haven::store {

inline constexpr const char* kRepoFormat = "haven-repository";
// Version 2 stores a snapshot's head apart from its chunk ids (store/manifest_file.h); version
// 3 authenticates every blob but chunks' in unencrypted repositories too, under a key in
// keys/auth (store/blob.h). This Haven reads versions 1 to 3 and writes each in its own
// format, so an older repository stays readable by the Haven that made it.
inline constexpr int kRepoVersion = 3;
inline constexpr int kOldestRepoVersion = 1;

struct RepoConfig {
  int version = kRepoVersion;
  std::string id;                  // 32 hex digits, random
  uint32_t chunk_size = 64 << 10;  // bytes; disk offsets are cut at multiples of it
  bool encrypted = false;
  bool append_only = false;  // snapshots and data may be added, never removed
  // zstd level, -7 (fastest) to 19; 0 stores chunks uncompressed. Level 1 by measurement: on
  // disk images it backs up ~1.6x faster than level 3 for 3 % more space (docs/PERFORMANCE.md).
  int compression_level = 1;
};

std::string repo_config_to_json(const RepoConfig& config);
Result<RepoConfig> repo_config_from_json(std::string_view text);

}  // namespace haven::store
