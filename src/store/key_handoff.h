#pragma once

// Handing an encrypted repository's unlocked master keys to a child process (a VMM restoring
// a disk from it), so the child need not derive them from the passphrase again (scrypt costs
// ~0.1 s by design) and the passphrase never reaches its environment. The keys travel in a
// sealed memfd the child inherits as fd 3, announced by HAVEN_REPO_KEYS_FD=3; the text names
// the repository they belong to:
//   haven-repo-keys 1\n<repository path>\n<data key, hex>\n<id key, hex>\n

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"
#include "store/crypto.h"

namespace haven::store {

inline constexpr const char* kKeyHandoffEnv = "HAVEN_REPO_KEYS_FD";
inline constexpr int kKeyHandoffFd = 3;

struct KeyHandoff {
  std::string repository;
  MasterKeys keys;
};

std::string encode_key_handoff(const KeyHandoff& handoff);
Result<KeyHandoff> decode_key_handoff(std::string_view text);
// A sealed memfd holding `handoff`, positioned at its start.
Result<UniqueFd> key_handoff_memfd(const KeyHandoff& handoff);
// What the parent handed over (nullopt when HAVEN_REPO_KEYS_FD is not set).
Result<std::optional<KeyHandoff>> inherited_key_handoff();

}  // namespace haven::store
