#pragma once

// One io_uring instance (liburing), owned: set up on create, torn down on destruction, with an
// eventfd that becomes readable when completions arrive so an epoll loop can serve it.

#include <liburing.h>

#include "base/error.h"
#include "base/unique_fd.h"

namespace haven {

class Uring {
 public:
  static Result<std::unique_ptr<Uring>> create(unsigned entries);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  io_uring* get() { return &m_ring; }
  int completion_fd() const { return m_event.get(); }

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  // Only create() can make the key.
  explicit Uring(Key) {}

 private:
  io_uring m_ring{};
  bool m_initialized = false;
  UniqueFd m_event;
};

}  // namespace haven
