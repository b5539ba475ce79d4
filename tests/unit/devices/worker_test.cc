#include "devices/virtio/worker.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>

#include <atomic>
#include <future>

#include "base/sys.h"

namespace haven::devices::virtio {
namespace {

TEST(Worker, AnEventfdWatchIsDrainedAndHandledOnTheWorkerThread) {
  auto event = sys::eventfd(0, EFD_NONBLOCK);
  ASSERT_TRUE(event);
  std::promise<std::thread::id> handled;
  auto worker =
      Worker::start("test-worker",
                    {{event->get(), [&] { handled.set_value(std::this_thread::get_id()); }, true}});
  ASSERT_TRUE(worker) << worker.error().message();
  ::eventfd_write(event->get(), 3);
  EXPECT_NE(handled.get_future().get(), std::this_thread::get_id());
  eventfd_t value = 0;
  EXPECT_EQ(::eventfd_read(event->get(), &value), -1) << "the worker drained the counter";
}

TEST(Worker, ACustomBodyEndsWhenTheWorkerIsDestroyed) {
  std::atomic<bool> ended = false;
  auto worker = Worker::start_custom("test-custom", [&](Worker& self) {
    pollfd stop{self.stop_fd(), POLLIN, 0};
    while (::poll(&stop, 1, -1) != 1) {
    }
    ended = true;
  });
  ASSERT_TRUE(worker) << worker.error().message();
  EXPECT_FALSE(ended);
  worker->reset();  // signals stop_fd and joins
  EXPECT_TRUE(ended);
}

}  // namespace
}  // namespace haven::devices::virtio
