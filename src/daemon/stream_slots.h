#pragma once

// At most a set number of long-lived API responses at once (event streams, followed
// consoles). Each holds one of the server's worker threads for as long as its client stays,
// so without a limit a few clients that follow would leave no worker for anyone else's
// `haven vm ls` (issue 21). A stream past the limit is answered 503 at once.

#include <atomic>
#include <cstddef>
#include <memory>

namespace haven::daemon {

class StreamSlots {
 public:
  explicit StreamSlots(size_t limit) : m_limit(limit) {}
  StreamSlots(const StreamSlots&) = delete;
  StreamSlots& operator=(const StreamSlots&) = delete;

  // One slot, held until the handle (and every copy of it) is gone; empty when all are
  // taken. A handle may outlive this object (a response still streaming at shutdown).
  std::shared_ptr<void> try_take() {
    size_t used = m_used->load();
    do {
      if (used >= m_limit) return nullptr;
    } while (!m_used->compare_exchange_weak(used, used + 1));
    // Points at the counter (never null, so the handle tests true), which the deleter keeps
    // alive and counts down.
    return std::shared_ptr<void>(m_used.get(), [used = m_used](void*) { --*used; });
  }
  size_t in_use() const { return m_used->load(); }
  size_t limit() const { return m_limit; }

 private:
  size_t m_limit;
  std::shared_ptr<std::atomic<size_t>> m_used = std::make_shared<std::atomic<size_t>>(0);
};

}  // namespace haven::daemon
