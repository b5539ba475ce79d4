#pragma once

// A device's I/O thread: an epoll loop over the queues' notify eventfds and any other fds the
// device serves (a TAP, an io_uring completion eventfd), stopped and joined on destruction.
// Handlers run on the worker thread only, so a device's queue state needs no lock.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/event_loop.h"
#include "base/unique_fd.h"

namespace haven::devices::virtio {

class Worker {
 public:
  struct Watch {
    int fd;
    std::function<void()> on_readable;
    bool is_eventfd = false;  // drained before the handler runs
  };

  static Result<std::unique_ptr<Worker>> start(std::string name, std::vector<Watch> watches);

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  // Only start() can make the key.
  Worker(Key, EventLoop loop, UniqueFd stop) : m_loop(std::move(loop)), m_stop(std::move(stop)) {}
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Pass from a handler: the loop stops after this batch (the device failed).
  void stop_soon() { m_stopping = true; }
  // The worker's loop, for handlers that start or stop watching an fd (worker thread only).
  EventLoop& loop() { return m_loop; }

 private:
  EventLoop m_loop;
  UniqueFd m_stop;
  bool m_stopping = false;  // worker thread only
  std::jthread m_thread;
};

}  // namespace haven::devices::virtio
