// The block stack: which requests go on at once, which wait on its worker, and what the layers
// see when a preparation fails or a flush lands.

#include "block/stack.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace haven::block {
namespace {

// A layer that records what it sees; it defers (admit false) writes, and fails their
// preparation when told to.
class RecordingLayer : public Layer {
 public:
  RecordingLayer(std::string name, std::vector<std::string>& log, std::mutex& mutex)
      : m_name(std::move(name)), m_log(log), m_mutex(mutex) {}

  bool defers_writes = false;
  bool fails = false;
  bool keeps = false;

  bool admit(const Io& io) override {
    bool taken = !(defers_writes && io.writes());
    record(taken ? "admit" : "defer", io);
    return taken;
  }
  Result<void> prepare(const Io& io) override {
    record(fails ? "fail" : "prepare", io);
    if (fails) return make_error("{} cannot prepare {}", m_name, io.offset);
    return {};
  }
  void finished(const Io& io, bool landed) override {
    record(landed ? "landed" : "taken back", io);
  }
  bool keeps_state() const override { return keeps; }
  Result<void> persist() override {
    record("persist", Io{Io::Kind::flush, 0, 0});
    return {};
  }

 private:
  void record(const std::string& what, const Io& io) {
    std::lock_guard lock(m_mutex);
    m_log.push_back(m_name + " " + what + " " + std::to_string(io.offset));
  }
  std::string m_name;
  std::vector<std::string>& m_log;
  std::mutex& m_mutex;
};

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto stack = Stack::create("disk.img");
    ASSERT_TRUE(stack) << stack.error().message();
    m_stack = std::move(*stack);
    m_top = std::make_shared<RecordingLayer>("top", m_log, m_mutex);
    m_bottom = std::make_shared<RecordingLayer>("bottom", m_log, m_mutex);
    m_stack->add(m_top);
    m_stack->add(m_bottom);
  }
  // Waits (10 s at most, a bound) for the worker's next results.
  std::vector<Stack::Ready> ready() {
    pollfd readable{m_stack->ready_fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&readable, 1, 10'000), 1);
    m_stack->wait_idle();
    return m_stack->take_ready();
  }
  std::vector<std::string> log() {
    std::lock_guard lock(m_mutex);
    return std::exchange(m_log, {});
  }

  std::mutex m_mutex;
  std::vector<std::string> m_log;
  std::shared_ptr<RecordingLayer> m_top, m_bottom;
  std::unique_ptr<Stack> m_stack;
};

TEST_F(StackTest, ARequestEveryLayerTakesGoesOnAtOnce) {
  EXPECT_TRUE(m_stack->before(7, Io{Io::Kind::read, 4096, 512}));
  m_stack->finished(Io{Io::Kind::read, 4096, 512}, true);
  EXPECT_EQ(log(), (std::vector<std::string>{"top admit 4096", "bottom admit 4096",
                                             "top landed 4096", "bottom landed 4096"}));
  EXPECT_TRUE(m_stack->take_ready().empty());
}

TEST_F(StackTest, ARequestALayerDefersIsPreparedOnTheWorkerFromThatLayerOn) {
  m_top->defers_writes = true;
  EXPECT_FALSE(m_stack->before(3, Io{Io::Kind::write, 8192, 4096}));
  auto done = ready();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].tag, 3u);
  EXPECT_EQ(done[0].phase, Stack::Phase::before);
  EXPECT_TRUE(done[0].result);
  EXPECT_EQ(log(), (std::vector<std::string>{"top defer 8192", "top prepare 8192",
                                             "bottom prepare 8192"}));
}

TEST_F(StackTest, AFailedPreparationIsTakenBackByTheLayersThatTookIt) {
  m_bottom->defers_writes = true;
  m_bottom->fails = true;
  EXPECT_FALSE(m_stack->before(9, Io{Io::Kind::discard, 0, 65536}));
  auto done = ready();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].tag, 9u);
  ASSERT_FALSE(done[0].result);
  EXPECT_NE(done[0].result.error().message().find("bottom cannot prepare 0"), std::string::npos);
  EXPECT_EQ(log(), (std::vector<std::string>{"top admit 0", "bottom defer 0", "bottom fail 0",
                                             "top taken back 0"}));
}

TEST_F(StackTest, AFlushWaitsForTheStateOnlyOfLayersThatKeepOne) {
  EXPECT_TRUE(m_stack->after_flush(1)) << "no layer keeps state";
  m_bottom->keeps = true;
  EXPECT_FALSE(m_stack->after_flush(2));
  auto done = ready();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].tag, 2u);
  EXPECT_EQ(done[0].phase, Stack::Phase::after_flush);
  EXPECT_TRUE(done[0].result);
  EXPECT_EQ(log(), (std::vector<std::string>{"bottom persist 0"}));
}

TEST_F(StackTest, TheWorkerPreparesInTheOrderRequestsCame) {
  m_top->defers_writes = true;
  for (uint64_t tag = 0; tag < 5; ++tag)
    EXPECT_FALSE(m_stack->before(tag, Io{Io::Kind::write, tag * 512, 512}));
  m_stack->wait_idle();
  auto done = m_stack->take_ready();
  ASSERT_EQ(done.size(), 5u);
  for (uint64_t tag = 0; tag < 5; ++tag) EXPECT_EQ(done[tag].tag, tag);
}

// A layer whose preparation waits until let go.
class HeldLayer : public Layer {
 public:
  bool admit(const Io&) override { return false; }
  Result<void> prepare(const Io&) override {
    std::unique_lock lock(m_mutex);
    m_holding = true;
    m_changed.notify_all();
    m_changed.wait(lock, [&] { return m_let_go; });
    return {};
  }
  bool wait_holding() {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, std::chrono::seconds(10), [&] { return m_holding; });
  }
  void let_go() {
    std::lock_guard lock(m_mutex);
    m_let_go = true;
    m_changed.notify_all();
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  bool m_holding = false, m_let_go = false;
};

TEST_F(StackTest, ACancelCallsOffTheJobsNotStartedAndTheLayersTakeThemBack) {
  auto held = std::make_shared<HeldLayer>();
  m_stack->add(held);
  EXPECT_FALSE(m_stack->before(1, Io{Io::Kind::read, 512, 512}));
  ASSERT_TRUE(held->wait_holding());
  EXPECT_FALSE(m_stack->before(2, Io{Io::Kind::read, 1024, 512}));  // queued behind it
  m_stack->cancel();
  held->let_go();
  m_stack->wait_idle();
  auto done = m_stack->take_ready();
  ASSERT_EQ(done.size(), 2u);
  // The cancelled one comes back first: the running one finished after the cancel.
  EXPECT_EQ(done[0].tag, 2u);
  ASSERT_FALSE(done[0].result);
  EXPECT_NE(done[0].result.error().message().find("called off"), std::string::npos);
  EXPECT_EQ(done[1].tag, 1u);
  EXPECT_TRUE(done[1].result);
  EXPECT_EQ(log(), (std::vector<std::string>{"top admit 512", "bottom admit 512", "top admit 1024",
                                             "bottom admit 1024", "top taken back 1024",
                                             "bottom taken back 1024"}));
}

TEST_F(StackTest, ARemovedLayerSeesNoMoreRequests) {
  m_stack->remove(m_bottom.get());
  EXPECT_TRUE(m_stack->before(1, Io{Io::Kind::flush, 0, 0}));
  EXPECT_EQ(log(), (std::vector<std::string>{"top admit 0"}));
}

}  // namespace
}  // namespace haven::block
