#pragma once

// A device's I/O thread, stopped and joined on destruction. Either an epoll loop over the
// queues' notify eventfds and any other fds the device serves (a TAP), or a body of the
// device's own (virtio-blk waits in its io_uring instead) that watches stop_fd(). Handlers run
// on the worker thread only, so a device's queue state needs no lock.

#include <functional>
#include <memory>
#include <optional>
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
  // An epoll loop over `watches`, running.
  static Result<std::unique_ptr<Worker>> start(std::string name, std::vector<Watch> watches);
  // The same, not yet running: run() starts its thread. For owners whose handlers reach the
  // worker through them (Session::worker()): a watched fd that is readable already runs its
  // handler at once, which must find the worker where its owner keeps it.
  static Result<std::unique_ptr<Worker>> create(std::string name, std::vector<Watch> watches);
  static Result<std::unique_ptr<Worker>> create_custom(std::string name,
                                                       std::function<void(Worker&)> body);
  void run();
  // Ends the thread and joins it (the destructor does too). An owner whose handlers reach the
  // worker through it stops it before letting go of it: the last handlers run meanwhile.
  void stop();
  // A thread running `body`, which returns once stop_fd() is readable or stopping() is true.
  static Result<std::unique_ptr<Worker>> start_custom(std::string name,
                                                      std::function<void(Worker&)> body);

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  // Only the start and create functions can make the key.
  Worker(Key, EventLoop loop, UniqueFd stop) : m_loop(std::move(loop)), m_stop(std::move(stop)) {}
  Worker(Key, UniqueFd stop) : m_stop(std::move(stop)) {}
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Pass from a handler: the loop stops after this batch (the device failed).
  void stop_soon() { m_stopping = true; }
  bool stopping() const { return m_stopping; }
  // An eventfd that becomes readable when the owner wants the thread to end.
  int stop_fd() const { return m_stop.get(); }
  // The epoll worker's loop, for handlers that start or stop watching an fd (worker thread
  // only).
  EventLoop& loop() { return *m_loop; }

 private:
  void launch(std::string name, std::function<void()> body);

  std::optional<EventLoop> m_loop;
  std::function<void(Worker&)> m_body;  // a custom worker's, instead of the loop
  std::string m_name;
  UniqueFd m_stop;
  bool m_stopping = false;  // worker thread only
  std::jthread m_thread;
};

}  // namespace haven::devices::virtio
