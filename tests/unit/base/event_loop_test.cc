#include "base/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "base/sys.h"

namespace haven {
namespace {

UniqueFd make_eventfd() {
  auto fd = sys::eventfd(0, EFD_NONBLOCK);
  EXPECT_TRUE(fd) << fd.error().message();
  return fd ? std::move(*fd) : UniqueFd();
}

void signal(const UniqueFd& fd) {
  uint64_t one = 1;
  ASSERT_EQ(::write(fd.get(), &one, sizeof(one)), 8);
}

void drain(const UniqueFd& fd) {
  uint64_t value;
  ASSERT_EQ(::read(fd.get(), &value, sizeof(value)), 8);
}

// Every test loop gets a watchdog: should the code under test never make `done()` true, the
// loop stops after a generous deadline and the test fails instead of hanging. It is never
// what makes a passing test proceed.
class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop) << loop.error().message();
    m_loop = std::make_unique<EventLoop>(std::move(*loop));
    m_watchdog = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    ASSERT_TRUE(m_watchdog);
    itimerspec deadline{};
    deadline.it_value.tv_sec = 20;
    ASSERT_EQ(::timerfd_settime(m_watchdog.get(), 0, &deadline, nullptr), 0);
    ASSERT_TRUE(m_loop->add(m_watchdog.get(), [this] { m_timed_out = true; }));
  }

  // Runs the loop until `done()`, failing the test if the watchdog fires first.
  void run_until(const std::function<bool()>& done) {
    auto result = m_loop->run_until([&] { return m_timed_out || done(); });
    ASSERT_TRUE(result) << result.error().message();
    ASSERT_FALSE(m_timed_out) << "the loop never got to done()";
  }

  EventLoop& loop() { return *m_loop; }

 private:
  std::unique_ptr<EventLoop> m_loop;
  UniqueFd m_watchdog;
  bool m_timed_out = false;
};

TEST_F(EventLoopTest, DoneBeforeStartingReturnsWithoutDispatching) {
  UniqueFd event = make_eventfd();
  signal(event);
  int calls = 0;
  ASSERT_TRUE(loop().add(event.get(), [&] { ++calls; }));
  ASSERT_TRUE(loop().run_until([] { return true; }));
  EXPECT_EQ(calls, 0);
}

TEST_F(EventLoopTest, OnlyTheReadyFdsHandlerRuns) {
  UniqueFd quiet = make_eventfd();
  UniqueFd ready = make_eventfd();
  int quiet_calls = 0;
  int ready_calls = 0;
  ASSERT_TRUE(loop().add(quiet.get(), [&] { ++quiet_calls; }));
  ASSERT_TRUE(loop().add(ready.get(), [&] {
    ++ready_calls;
    drain(ready);
  }));
  signal(ready);
  run_until([&] { return ready_calls > 0; });
  EXPECT_EQ(ready_calls, 1);
  EXPECT_EQ(quiet_calls, 0);
}

TEST_F(EventLoopTest, ReadinessIsLevelTriggered) {
  UniqueFd event = make_eventfd();
  int calls = 0;
  ASSERT_TRUE(loop().add(event.get(), [&] { ++calls; }));  // never drains
  signal(event);
  run_until([&] { return calls >= 3; });
  EXPECT_EQ(calls, 3);
}

TEST_F(EventLoopTest, HangupWakesTheReader) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  bool woken = false;
  ASSERT_TRUE(loop().add(read_end.get(), [&] {
    woken = true;
    loop().remove(read_end.get());
  }));
  write_end.reset();
  run_until([&] { return woken; });
  EXPECT_TRUE(woken);
}

TEST_F(EventLoopTest, AHandlerMayRemoveItselfAndKeepsItsCapturesAlive) {
  UniqueFd event = make_eventfd();
  UniqueFd other = make_eventfd();
  int self_calls = 0;
  bool other_called = false;
  // The capture is heap-allocated, so ASan would see a use after free if removing the handler
  // destroyed it while it runs.
  std::string label(64, 'x');
  ASSERT_TRUE(loop().add(event.get(), [&, label] {
    loop().remove(event.get());
    self_calls += static_cast<int>(label.size() / 64);
  }));
  ASSERT_TRUE(loop().add(other.get(), [&] {
    other_called = true;
    drain(other);
  }));
  signal(event);  // stays readable: only the removal keeps the handler from running again
  run_until([&] { return self_calls > 0; });
  signal(other);
  run_until([&] { return other_called; });
  EXPECT_EQ(self_calls, 1);
}

TEST_F(EventLoopTest, AHandlerRemovedEarlierInTheBatchDoesNotRun) {
  UniqueFd a = make_eventfd();
  UniqueFd b = make_eventfd();
  int calls = 0;
  // Whichever runs first removes the other, which is ready in the same epoll batch.
  ASSERT_TRUE(loop().add(a.get(), [&] {
    ++calls;
    loop().remove(a.get());
    loop().remove(b.get());
  }));
  ASSERT_TRUE(loop().add(b.get(), [&] {
    ++calls;
    loop().remove(a.get());
    loop().remove(b.get());
  }));
  signal(a);
  signal(b);
  run_until([&] { return calls > 0; });
  EXPECT_EQ(calls, 1);
}

TEST_F(EventLoopTest, AHandlerMayAddAnotherFd) {
  UniqueFd first = make_eventfd();
  UniqueFd second = make_eventfd();
  bool second_called = false;
  ASSERT_TRUE(loop().add(first.get(), [&] {
    drain(first);
    loop().remove(first.get());
    ASSERT_TRUE(loop().add(second.get(), [&] {
      second_called = true;
      drain(second);
    }));
  }));
  signal(second);  // ready before anyone watches it
  signal(first);
  run_until([&] { return second_called; });
  EXPECT_TRUE(second_called);
}

TEST_F(EventLoopTest, RemovedFdsCanBeAddedAgain) {
  UniqueFd event = make_eventfd();
  int old_calls = 0;
  int new_calls = 0;
  ASSERT_TRUE(loop().add(event.get(), [&] { ++old_calls; }));
  loop().remove(event.get());
  loop().remove(event.get());  // twice: harmless
  loop().remove(12345);        // never added: harmless
  ASSERT_TRUE(loop().add(event.get(), [&] {
    ++new_calls;
    drain(event);
  }));
  signal(event);
  run_until([&] { return new_calls > 0; });
  EXPECT_EQ(old_calls, 0);
  EXPECT_EQ(new_calls, 1);
}

TEST_F(EventLoopTest, RegularFilesCannotBeWatched) {
  auto file = sys::open("/proc/self/exe", O_RDONLY);
  ASSERT_TRUE(file) << file.error().message();
  auto added = loop().add(file->get(), [] {});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), EPERM);
  EXPECT_EQ(added.error().message(),
            "epoll_ctl add fd " + std::to_string(file->get()) + ": Operation not permitted");
}

TEST_F(EventLoopTest, AddingAnFdTwiceFails) {
  UniqueFd event = make_eventfd();
  ASSERT_TRUE(loop().add(event.get(), [] {}));
  auto again = loop().add(event.get(), [] {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), EEXIST);
}

}  // namespace
}  // namespace haven
