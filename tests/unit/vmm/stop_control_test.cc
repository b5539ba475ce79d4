#include "vmm/stop_control.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace haven::vmm {
namespace {

std::unique_ptr<StopControl> make_stop_control() {
  auto stop = StopControl::create();
  EXPECT_TRUE(stop) << stop.error().message();
  return stop ? std::move(*stop) : nullptr;
}

bool readable(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

TEST(StopControl, NothingRequestedAtFirst) {
  auto stop = make_stop_control();
  ASSERT_TRUE(stop);
  EXPECT_FALSE(stop->requested());
  EXPECT_FALSE(stop->reason().has_value());
  EXPECT_FALSE(readable(stop->fd()));
  uint64_t value = 0;
  EXPECT_EQ(::read(stop->fd(), &value, sizeof(value)), -1) << "the eventfd is non-blocking";
  EXPECT_EQ(errno, EAGAIN);
}

TEST(StopControl, TheFirstReasonIsKeptWhole) {
  auto stop = make_stop_control();
  ASSERT_TRUE(stop);
  stop->request({StopKind::host_signal, "got SIGTERM", 15});
  stop->request({StopKind::crash, "triple fault"});
  stop->request({StopKind::host_signal, "got SIGINT", 2});
  ASSERT_TRUE(stop->reason());
  EXPECT_EQ(stop->reason()->kind, StopKind::host_signal);
  EXPECT_EQ(stop->reason()->detail, "got SIGTERM");
  EXPECT_EQ(stop->reason()->signal, 15);
  EXPECT_EQ(exit_status(*stop->reason()), 143);
}

TEST(StopControl, TheEventfdIsSignalledOnce) {
  auto stop = make_stop_control();
  ASSERT_TRUE(stop);
  stop->request({StopKind::power_off, "first"});
  stop->request({StopKind::reset, "second"});
  stop->request({StopKind::panic, "third"});
  EXPECT_TRUE(stop->requested());
  EXPECT_TRUE(readable(stop->fd()));
  uint64_t count = 0;
  ASSERT_EQ(::read(stop->fd(), &count, sizeof(count)), 8);
  EXPECT_EQ(count, 1u) << "only the winning request writes the eventfd";
  EXPECT_FALSE(readable(stop->fd()));
  EXPECT_TRUE(stop->requested()) << "draining the fd does not undo the request";
}

TEST(StopControl, RacingRequestsFromManyThreadsPickExactlyOne) {
  auto stop = make_stop_control();
  ASSERT_TRUE(stop);
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      stop->request({StopKind::crash, "vcpu " + std::to_string(i)});
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(stop->reason());
  std::set<std::string> candidates;
  for (int i = 0; i < kThreads; ++i) candidates.insert("vcpu " + std::to_string(i));
  EXPECT_TRUE(candidates.contains(stop->reason()->detail)) << stop->reason()->detail;
  uint64_t count = 0;
  ASSERT_EQ(::read(stop->fd(), &count, sizeof(count)), 8);
  EXPECT_EQ(count, 1u);
}

TEST(StopControl, TheEventfdIsCloseOnExec) {
  auto stop = make_stop_control();
  ASSERT_TRUE(stop);
  EXPECT_TRUE(::fcntl(stop->fd(), F_GETFD) & FD_CLOEXEC);
}

}  // namespace
}  // namespace haven::vmm
