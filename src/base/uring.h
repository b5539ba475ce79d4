#pragma once

// One io_uring instance (liburing) for a single thread that both submits and waits: created
// disabled (so set-up errors surface where it is made), then enabled by the thread that will
// use it. Where the kernel has them (6.1+) completions are deferred to that thread's waits
// (SINGLE_ISSUER + DEFER_TASKRUN): no interrupt-time task work and no wake-ups besides the one
// wait, which is what fio does too. Older kernels get the plain mode.

#include <liburing.h>

#include <memory>

#include "base/error.h"

namespace haven {

class Uring {
 public:
  static Result<std::unique_ptr<Uring>> create(unsigned entries);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  // Call once from the thread that will submit and wait; only it may use the ring afterwards.
  Result<void> enable();
  io_uring* get() { return &m_ring; }

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
};

}  // namespace haven
