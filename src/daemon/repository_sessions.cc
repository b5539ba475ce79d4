#include "daemon/repository_sessions.h"

#include <openssl/crypto.h>

#include "store/crypto.h"

namespace haven::daemon {

Result<std::shared_ptr<store::Repository>> RepositorySessions::open(const std::string& path,
                                                                    const std::string& passphrase) {
  auto now = std::chrono::steady_clock::now();
  store::ChunkId secret = store::sha256(
      std::span(reinterpret_cast<const uint8_t*>(passphrase.data()), passphrase.size()));
  {
    MutexLock lock(m_mutex);
    std::erase_if(m_open, [&](const auto& entry) { return now - entry.second.used > kIdle; });
    if (auto found = m_open.find(path);
        found != m_open.end() && CRYPTO_memcmp(found->second.secret.bytes.data(),
                                               secret.bytes.data(), secret.bytes.size()) == 0) {
      found->second.used = now;
      return found->second.repository;
    }
  }
  auto source = [&]() -> Result<std::string> {
    if (passphrase.empty())
      return field_error(ErrorKind::invalid, "passphrase",
                         "the repository is encrypted; give its passphrase");
    return passphrase;
  };
  std::shared_ptr<store::Repository> repository =
      TRY(about_field(store::Repository::open(path, source), ErrorKind::invalid, "repo"));
  MutexLock lock(m_mutex);
  if (m_open.size() >= kMaxOpen && !m_open.contains(path)) {
    auto oldest = m_open.begin();
    for (auto it = m_open.begin(); it != m_open.end(); ++it)
      if (it->second.used < oldest->second.used) oldest = it;
    m_open.erase(oldest);
  }
  m_open[path] = {repository, secret, now};
  return repository;
}

}  // namespace haven::daemon
