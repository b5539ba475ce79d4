#pragma once

#include <functional>
#include <map>
#include <memory>

#include "base/error.h"
#include "base/unique_fd.h"

namespace haven {

// An epoll loop for one thread: call handlers when their fds become readable (or hang up).
// Handlers may add and remove fds, their own included.
class EventLoop {
 public:
  using Handler = std::function<void()>;

  static Result<EventLoop> create();

  // Fails with EPERM for fds epoll cannot watch (regular files, /dev/null).
  Result<void> add(int fd, Handler on_readable);
  void remove(int fd);

  // Waits for events and dispatches them until `done()` is true (checked after each batch).
  Result<void> run_until(const std::function<bool()>& done);

 private:
  explicit EventLoop(UniqueFd epoll) : m_epoll(std::move(epoll)) {}

  UniqueFd m_epoll;
  // shared_ptr: a handler that removes itself must survive until it returns.
  std::map<int, std::shared_ptr<Handler>> m_handlers;
};

}  // namespace haven
