#include "vmm/vcpu_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace haven::vmm {
namespace {

using namespace std::chrono_literals;

// Long enough never to decide a passing test; it only turns a hang into a failure.
constexpr auto kGenerous = 10s;
// How long a negative check waits for something that must not happen.
constexpr auto kShort = 50ms;

// A vCPU thread that parks once. Should a test stop early, the destructor opens the gate so
// that joining the thread cannot hang.
class ParkingThread {
 public:
  explicit ParkingThread(VcpuGate& gate) : m_gate(gate) {
    std::promise<void> returned;
    m_done = returned.get_future();
    m_thread = std::jthread([&gate, returned = std::move(returned)]() mutable {
      gate.park();
      returned.set_value();
    });
  }
  ~ParkingThread() { m_gate.open(); }
  ParkingThread(const ParkingThread&) = delete;
  ParkingThread& operator=(const ParkingThread&) = delete;

  // Whether park() returned within `timeout`.
  bool returned(std::chrono::milliseconds timeout) {
    return m_done.wait_for(timeout) == std::future_status::ready;
  }

 private:
  VcpuGate& m_gate;
  std::future<void> m_done;
  std::jthread m_thread;
};

TEST(VcpuGate, AnOpenGateLetsParkReturnAtOnce) {
  VcpuGate gate(1);
  EXPECT_FALSE(gate.closed());
  ParkingThread vcpu(gate);
  EXPECT_TRUE(vcpu.returned(kGenerous));
}

TEST(VcpuGate, AClosedGateHoldsParkUntilOpened) {
  VcpuGate gate(1);
  gate.close();
  EXPECT_TRUE(gate.closed());
  ParkingThread vcpu(gate);
  ASSERT_TRUE(gate.wait_parked(kGenerous));
  // Parked means inside park(), waiting for open(): it cannot have returned.
  EXPECT_FALSE(vcpu.returned(0ms));
  gate.open();
  EXPECT_FALSE(gate.closed());
  EXPECT_TRUE(vcpu.returned(kGenerous));
}

TEST(VcpuGate, WaitParkedTimesOutWhileAVcpuIsStillRunning) {
  VcpuGate gate(2);
  gate.close();
  EXPECT_FALSE(gate.wait_parked(kShort)) << "nobody parked";
  ParkingThread first(gate);
  EXPECT_FALSE(gate.wait_parked(kShort)) << "one of two parked";
  ParkingThread second(gate);
  EXPECT_TRUE(gate.wait_parked(kGenerous));
  gate.open();
  EXPECT_TRUE(first.returned(kGenerous));
  EXPECT_TRUE(second.returned(kGenerous));
}

TEST(VcpuGate, AVcpuThatLeftCountsAsParked) {
  VcpuGate gate(2);
  std::jthread([&gate] { gate.leave(); }).join();  // its guest crashed, say
  gate.close();
  EXPECT_FALSE(gate.wait_parked(kShort)) << "the other vCPU still runs";
  ParkingThread other(gate);
  EXPECT_TRUE(gate.wait_parked(kGenerous));
  gate.open();
  EXPECT_TRUE(other.returned(kGenerous));
}

TEST(VcpuGate, LeavingWhileTheControllerWaitsWakesIt) {
  VcpuGate gate(1);
  gate.close();
  std::future<bool> parked =
      std::async(std::launch::async, [&gate] { return gate.wait_parked(kGenerous); });
  gate.leave();
  ASSERT_EQ(parked.wait_for(kGenerous), std::future_status::ready);
  EXPECT_TRUE(parked.get());
}

// The controller's cycle, as pause/resume drive it, several times over with vCPU threads that
// keep running into the gate.
TEST(VcpuGate, ClosesAndOpensRepeatedly) {
  constexpr size_t kVcpus = 3;
  VcpuGate gate(kVcpus);
  std::atomic<bool> stop = false;
  std::atomic<int> laps = 0;
  std::vector<std::jthread> vcpus;
  for (size_t i = 0; i < kVcpus; ++i)
    vcpus.emplace_back([&] {
      while (!stop) {
        gate.park();
        ++laps;
      }
      gate.leave();
    });
  for (int round = 0; round < 5; ++round) {
    gate.close();
    if (!gate.wait_parked(kGenerous)) {
      ADD_FAILURE() << "the vCPUs did not park in round " << round;
      break;
    }
    int seen = laps;
    std::this_thread::sleep_for(kShort);  // a window for a vCPU that got through by mistake
    EXPECT_EQ(laps, seen) << "every vCPU is held while the gate is closed";
    gate.open();
  }
  stop = true;
  gate.open();
  for (auto& vcpu : vcpus) vcpu.join();
  gate.close();
  EXPECT_TRUE(gate.wait_parked(0ms)) << "all of them left";
}

}  // namespace
}  // namespace haven::vmm
