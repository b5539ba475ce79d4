#pragma once

// Backup repositories havend keeps open for a while, so back-to-back backups and restores
// skip the passphrase's key derivation (scrypt, ~0.1 s by design) and re-read only the index
// files added since (a writer catches up under its lock, store/repository.h). An entry is
// reused only for the same passphrase (compared as SHA-256, in constant time) and dropped
// after ten minutes unused.

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "base/error.h"
#include "base/mutex.h"
#include "store/chunk_id.h"
#include "store/repository.h"

namespace haven::daemon {

class RepositorySessions {
 public:
  static constexpr auto kIdle = std::chrono::minutes(10);
  static constexpr size_t kMaxOpen = 16;

  // `passphrase` may be empty for an unencrypted repository; an encrypted one then fails
  // with a "passphrase:" error.
  Result<std::shared_ptr<store::Repository>> open(const std::string& path,
                                                  const std::string& passphrase);

 private:
  struct Entry {
    std::shared_ptr<store::Repository> repository;
    store::ChunkId secret;  // SHA-256 of the passphrase it was opened with
    std::chrono::steady_clock::time_point used;
  };
  Mutex m_mutex;
  std::map<std::string, Entry> m_open HAVEN_GUARDED_BY(m_mutex);
};

}  // namespace haven::daemon
