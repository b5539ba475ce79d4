#include "base/event_loop.h"

#include <sys/epoll.h>

namespace haven {

Result<EventLoop> EventLoop::create() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return errno_error("epoll_create1");
  return EventLoop(UniqueFd(fd));
}

Result<void> EventLoop::add(int fd, Handler on_readable) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &event) < 0)
    return errno_error("epoll_ctl add fd {}", fd);
  m_handlers[fd] = std::make_shared<Handler>(std::move(on_readable));
  return {};
}

void EventLoop::remove(int fd) {
  if (m_handlers.erase(fd)) ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
}

Result<void> EventLoop::run_until(const std::function<bool()>& done) {
  epoll_event events[16];
  while (!done()) {
    int count = ::epoll_wait(m_epoll.get(), events, 16, -1);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return errno_error("epoll_wait");
    for (int i = 0; i < count; ++i) {
      auto it = m_handlers.find(events[i].data.fd);
      if (it == m_handlers.end()) continue;  // removed by an earlier handler in this batch
      std::shared_ptr<Handler> handler = it->second;
      (*handler)();
    }
  }
  return {};
}

}  // namespace haven
