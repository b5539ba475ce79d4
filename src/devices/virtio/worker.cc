#include "devices/virtio/worker.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sys.h"
#include "base/thread_kind.h"

namespace haven::devices::virtio {

Result<std::unique_ptr<Worker>> Worker::start(std::string name, std::vector<Watch> watches) {
  auto worker = TRY(create(std::move(name), std::move(watches)));
  worker->run();
  return worker;
}

Result<std::unique_ptr<Worker>> Worker::create(std::string name, std::vector<Watch> watches) {
  auto loop = TRY(EventLoop::create());
  auto stop = TRY(sys::eventfd(0, EFD_NONBLOCK));
  auto worker = std::make_unique<Worker>(Key(), std::move(loop), std::move(stop));
  Worker* self = worker.get();
  TRY(self->m_loop->add(self->m_stop.get(), [self] { self->m_stopping = true; }));
  for (Watch& watch : watches) {
    int fd = watch.fd;
    if (watch.is_eventfd) {
      TRY(with_context(self->m_loop->add(fd,
                                         [fd, handler = std::move(watch.on_readable)] {
                                           eventfd_t ignored;
                                           ::eventfd_read(fd, &ignored);
                                           handler();
                                         }),
                       "{}", name));
    } else {
      TRY(with_context(self->m_loop->add(fd, std::move(watch.on_readable)), "{}", name));
    }
  }
  self->m_name = std::move(name);
  return worker;
}

void Worker::run() {
  if (m_thread.joinable()) return;
  if (m_body) {
    launch(m_name, [this] { m_body(*this); });
    return;
  }
  launch(m_name, [this] {
    if (auto result = m_loop->run_until([this] { return m_stopping; }); !result)
      log::error("{}: {}", m_name, result.error().message());
  });
}

Result<std::unique_ptr<Worker>> Worker::start_custom(std::string name,
                                                     std::function<void(Worker&)> body) {
  auto worker = TRY(create_custom(std::move(name), std::move(body)));
  worker->run();
  return worker;
}

Result<std::unique_ptr<Worker>> Worker::create_custom(std::string name,
                                                      std::function<void(Worker&)> body) {
  auto stop = TRY(sys::eventfd(0, EFD_NONBLOCK));
  auto worker = std::make_unique<Worker>(Key(), std::move(stop));
  worker->m_name = std::move(name);
  worker->m_body = std::move(body);
  return worker;
}

void Worker::launch(std::string name, std::function<void()> body) {
  m_thread = std::jthread([name = std::move(name), body = std::move(body)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    enter_thread_kind(ThreadKind::device_worker);
    body();
  });
}

void Worker::stop() {
  if (m_thread.joinable()) {
    ::eventfd_write(m_stop.get(), 1);
    m_thread.join();
  }
}

Worker::~Worker() {
  stop();
}

}  // namespace haven::devices::virtio
