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

// An owner holds its worker before it runs, and lets go of it only after stop(): a handler
// readable from the start (a queue kicked while the device was paused) and the last one
// before the stop both find it where the owner keeps it (Session::worker()).
TEST(Worker, HandlersFindTheWorkerTheirOwnerHoldsFromRunToStop) {
  auto event = sys::eventfd(0, EFD_NONBLOCK);
  ASSERT_TRUE(event);
  ::eventfd_write(event->get(), 1);  // readable before the thread exists
  std::unique_ptr<Worker> held;
  std::promise<bool> first;
  std::atomic<int> calls = 0;
  auto created = Worker::create("test-held", {{event->get(),
                                               [&] {
                                                 if (calls++ == 0) first.set_value(held != nullptr);
                                               },
                                               true}});
  ASSERT_TRUE(created) << created.error().message();
  held = std::move(*created);
  held->run();
  EXPECT_TRUE(first.get_future().get()) << "the first handler ran before its owner held it";
  held->stop();
  ::eventfd_write(event->get(), 1);
  int before = calls;
  held.reset();
  EXPECT_EQ(calls, before) << "no handler after stop()";
}

TEST(Worker, AWorkerThatNeverRanIsDestroyedCleanly) {
  auto event = sys::eventfd(0, EFD_NONBLOCK);
  ASSERT_TRUE(event);
  bool ran = false;
  {
    auto worker = Worker::create("test-idle", {{event->get(), [&] { ran = true; }, true}});
    ASSERT_TRUE(worker);
    auto custom = Worker::create_custom("test-idle2", [&](Worker&) { ran = true; });
    ASSERT_TRUE(custom);
  }
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace haven::devices::virtio
