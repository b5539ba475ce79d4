#pragma once

// The driver's wait for a device's completions in device tests: re-arm the used event, take
// what came back, and sleep on the interrupt eventfd until `count` buffers are back.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>

#include <atomic>
#include <functional>
#include <vector>

#include "support/virtqueue_driver.h"

namespace haven::testing {

// Waits (up to 10 s per interrupt, a bound rather than a synchronization) until `count`
// buffers came back on `driver`, whose interrupts are written to `interrupt_fd`, or until
// `failed()` says the device gave up; returns what came back (fewer on a timeout, which is
// a test failure).
inline std::vector<UsedElement> wait_used(VirtqueueDriver& driver, int interrupt_fd, size_t count,
                                          const std::function<bool()>& failed) {
  std::vector<UsedElement> used;
  while (used.size() < count) {
    driver.set_used_event(driver.used_index());
    // The event index's store before the used index's load, as Linux's driver orders them:
    // else both sides may read stale values and no interrupt comes.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    auto more = driver.take_used();
    used.insert(used.end(), more.begin(), more.end());
    if (used.size() >= count || failed()) break;
    pollfd waiting{interrupt_fd, POLLIN, 0};
    if (::poll(&waiting, 1, 10'000) != 1) {
      ADD_FAILURE() << "no interrupt within 10 s (" << used.size() << " of " << count
                    << " buffers back)";
      break;
    }
    eventfd_t ignored;
    ::eventfd_read(interrupt_fd, &ignored);
  }
  return used;
}

}  // namespace haven::testing
