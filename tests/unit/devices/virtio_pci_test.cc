#include "devices/virtio/virtio_pci.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "devices/virtio/console.h"
#include "devices/virtio/rng.h"
#include "support/virtqueue_driver.h"

namespace haven::devices::virtio {
namespace {

using memory::GuestAddr;
using testing::VirtqueueDriver;

constexpr uint64_t kBar = 0xc0000000;
constexpr uint32_t kSlot = 3;

// Records what the transport asks of the platform; waits for interrupts without sleeping.
class FakePlatform final : public pci::PciPlatform {
 public:
  class Vectors final : public pci::MsiVectors {
   public:
    explicit Vectors(FakePlatform& platform) : m_platform(platform) {}
    Result<void> route(uint16_t vector, std::optional<pci::MsiMessage> message) override {
      std::lock_guard lock(m_platform.m_mutex);
      m_platform.routes.emplace_back(vector, message);
      return {};
    }
    void trigger(uint16_t vector) override {
      std::lock_guard lock(m_platform.m_mutex);
      m_platform.triggers.push_back(vector);
      ++m_platform.interrupts;
      m_platform.m_changed.notify_all();
    }

   private:
    FakePlatform& m_platform;
  };

  Result<std::unique_ptr<pci::MsiVectors>> allocate_msi(uint16_t) override {
    return std::make_unique<Vectors>(*this);
  }
  void set_intx(uint32_t slot, bool level) override {
    std::lock_guard lock(m_mutex);
    EXPECT_EQ(slot, kSlot);
    if (level && !intx) ++interrupts;
    intx = level;
    m_changed.notify_all();
  }
  Result<void> add_doorbell(int, uint64_t address, uint32_t length) override {
    std::lock_guard lock(m_mutex);
    doorbells.push_back(address);
    EXPECT_EQ(length, 2u);
    return {};
  }
  void remove_doorbell(int, uint64_t address, uint32_t) override {
    std::lock_guard lock(m_mutex);
    std::erase(doorbells, address);
  }

  // Waits until `done()` holds (checked under the lock, after every change the device makes
  // to this platform: so `done` may only read the platform's fields); false after a generous
  // timeout, which is a failure: every caller asserts the result.
  template <class Predicate>
  [[nodiscard]] bool wait(Predicate done) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, std::chrono::seconds(10), done);
  }
  // Waits for the device's `count`th interrupt since the platform was made.
  [[nodiscard]] bool wait_for_interrupts(int count) {
    return wait([&] { return interrupts >= count; });
  }
  // True when no interrupt beyond the first `count` arrives within `window` (a device that
  // ignored a pause serves a kick in microseconds, so a short window catches it).
  [[nodiscard]] bool quiet_for(std::chrono::milliseconds window, int count) {
    std::unique_lock lock(m_mutex);
    return !m_changed.wait_for(lock, window, [&] { return interrupts > count; });
  }

  std::mutex m_mutex;
  std::condition_variable m_changed;
  bool intx = false;
  std::vector<uint16_t> triggers;
  std::vector<std::pair<uint16_t, std::optional<pci::MsiMessage>>> routes;
  std::vector<uint64_t> doorbells;
  int interrupts = 0;  // MSI-X messages sent and INTx rising edges
};

memory::GuestMemory make_memory() {
  memory::RegionSpec spec{GuestAddr(0), 1 << 20};
  return memory::GuestMemory::create(std::span(&spec, 1)).value();
}

class VirtioPciTest : public ::testing::Test {
 protected:
  void SetUp() override {
    device = VirtioPci::create(std::make_unique<Rng>(), memory, platform, kSlot).value();
    device->place_bar(0, kBar);
    write_config16(pci::kCommand, pci::kCommandMemorySpace);
  }

  void write_config16(uint32_t offset, uint16_t value) {
    device->write_config(offset, std::span(reinterpret_cast<const uint8_t*>(&value), 2));
  }
  uint8_t config8(uint32_t offset) {
    uint8_t value = 0;
    device->read_config(offset, std::span(&value, 1));
    return value;
  }
  template <class T>
  T bar_read(uint64_t offset) {
    T value{};
    EXPECT_TRUE(
        device->mmio_read(kBar + offset, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
    return value;
  }
  template <class T>
  void bar_write(uint64_t offset, T value) {
    EXPECT_TRUE(device->mmio_write(kBar + offset,
                                   std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T))));
  }

  // The driver's start-up sequence for queue 0, up to DRIVER_OK.
  void bring_up(bool event_index = false) { bring_up(driver, event_index); }
  void bring_up(VirtqueueDriver& queue, bool event_index) {
    bar_write<uint8_t>(0x14, VirtioPci::kStatusAcknowledge | VirtioPci::kStatusDriver);
    bar_write<uint32_t>(0x08, 0);
    bar_write<uint32_t>(0x0c, event_index ? uint32_t(kFeatureEventIndex) : 0);
    bar_write<uint32_t>(0x08, 1);
    bar_write<uint32_t>(0x0c, 1);  // VERSION_1
    bar_write<uint8_t>(0x14, VirtioPci::kStatusAcknowledge | VirtioPci::kStatusDriver |
                                 VirtioPci::kStatusFeaturesOk);
    ASSERT_TRUE(bar_read<uint8_t>(0x14) & VirtioPci::kStatusFeaturesOk);
    bar_write<uint16_t>(0x16, 0);
    bar_write<uint16_t>(0x18, 16);
    bar_write<uint64_t>(0x20, queue.layout().descriptors.value());
    bar_write<uint64_t>(0x28, queue.layout().driver_ring.value());
    bar_write<uint64_t>(0x30, queue.layout().device_ring.value());
    bar_write<uint16_t>(0x1c, 1);
    bar_write<uint8_t>(0x14, VirtioPci::kStatusAcknowledge | VirtioPci::kStatusDriver |
                                 VirtioPci::kStatusFeaturesOk | VirtioPci::kStatusDriverOk);
  }

  memory::GuestMemory memory = make_memory();
  FakePlatform platform;
  VirtqueueDriver driver{memory, 0x1000, 16};
  std::shared_ptr<VirtioPci> device;
};

TEST_F(VirtioPciTest, IdentifiesAsModernVirtioWithVendorCapabilities) {
  uint16_t ids[2];
  device->read_config(0, std::span(reinterpret_cast<uint8_t*>(ids), 4));
  EXPECT_EQ(ids[0], 0x1af4);
  EXPECT_EQ(ids[1], 0x1044);  // 0x1040 + rng
  std::vector<uint8_t> types;
  for (uint8_t at = config8(pci::kCapabilitiesPointer); at; at = config8(at + 1u)) {
    if (config8(at) == pci::kCapabilityVendor) types.push_back(config8(at + 3u));
    ASSERT_LT(types.size(), 10u) << "capability list loops";
  }
  EXPECT_EQ(types, (std::vector<uint8_t>{1, 2, 3, 4}));  // common, notify, ISR, device
}

TEST_F(VirtioPciTest, OffersVersion1AndRefusesUnofferedFeatures) {
  bar_write<uint32_t>(0x00, 1);
  EXPECT_EQ(bar_read<uint32_t>(0x04) & 1, 1u);  // VERSION_1 is bit 32
  bar_write<uint32_t>(0x08, 0);
  bar_write<uint32_t>(0x0c, 1u << 31);  // never offered
  bar_write<uint32_t>(0x08, 1);
  bar_write<uint32_t>(0x0c, 1);
  bar_write<uint8_t>(0x14, VirtioPci::kStatusFeaturesOk);
  EXPECT_FALSE(bar_read<uint8_t>(0x14) & VirtioPci::kStatusFeaturesOk);
  bar_write<uint32_t>(0x08, 0);
  bar_write<uint32_t>(0x0c, 0);
  bar_write<uint32_t>(0x08, 1);
  bar_write<uint32_t>(0x0c, 0);  // without VERSION_1
  bar_write<uint8_t>(0x14, VirtioPci::kStatusFeaturesOk);
  EXPECT_FALSE(bar_read<uint8_t>(0x14) & VirtioPci::kStatusFeaturesOk);
}

TEST_F(VirtioPciTest, RngRequestCompletesWithIntx) {
  bring_up();
  EXPECT_EQ(platform.doorbells, std::vector<uint64_t>{kBar + VirtioPci::kNotifyOffset});
  driver.add_chain({{0x8000, 64, true}});
  bar_write<uint16_t>(VirtioPci::kNotifyOffset, 0);
  ASSERT_TRUE(platform.wait([&] { return platform.intx; })) << "no INTx";
  auto used = driver.take_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].length, 64u);
  EXPECT_EQ(bar_read<uint8_t>(VirtioPci::kIsrOffset) & 1, 1);
  std::lock_guard lock(platform.m_mutex);
  EXPECT_FALSE(platform.intx) << "reading the ISR deasserts the line";
}

TEST_F(VirtioPciTest, RngRequestCompletesWithMsix) {
  uint8_t msix = 0;
  for (uint8_t at = config8(pci::kCapabilitiesPointer); at; at = config8(at + 1u))
    if (config8(at) == pci::kCapabilityMsix) msix = at;
  ASSERT_NE(msix, 0);
  write_config16(msix + 2u, 0x8000);  // enable
  bar_write<uint32_t>(VirtioPci::kMsixTableOffset + 16, 0xfee00000);
  bar_write<uint32_t>(VirtioPci::kMsixTableOffset + 16 + 8, 0x41);
  bar_write<uint32_t>(VirtioPci::kMsixTableOffset + 16 + 12, 0);  // unmask vector 1
  bar_write<uint16_t>(0x16, 0);
  bar_write<uint16_t>(0x1a, 1);
  EXPECT_EQ(bar_read<uint16_t>(0x1a), 1);
  bring_up();
  driver.add_chain({{0x8000, 32, true}});
  bar_write<uint16_t>(VirtioPci::kNotifyOffset, 0);
  ASSERT_TRUE(platform.wait([&] { return !platform.triggers.empty(); })) << "no MSI-X";
  std::lock_guard lock(platform.m_mutex);
  EXPECT_EQ(platform.triggers.front(), 1);
  ASSERT_FALSE(platform.routes.empty());
  EXPECT_EQ(platform.routes.back().first, 1);
  EXPECT_EQ(platform.routes.back().second, (pci::MsiMessage{0xfee00000, 0x41}));
  EXPECT_FALSE(platform.intx);
}

TEST_F(VirtioPciTest, QueueVectorBeyondTheTableReadsNoVector) {
  bar_write<uint16_t>(0x16, 0);
  bar_write<uint16_t>(0x1a, 99);
  EXPECT_EQ(bar_read<uint16_t>(0x1a), VirtioPci::kNoVector);
}

TEST_F(VirtioPciTest, HostileRingBreaksTheDeviceUntilReset) {
  bring_up();
  driver.write_descriptor(0, 0x8000, 4, VirtqueueDriver::kNext | VirtqueueDriver::kWrite, 0);
  driver.publish(0);  // a chain that loops onto itself
  bar_write<uint16_t>(VirtioPci::kNotifyOffset, 0);
  // The device signals a configuration change (INTx here) when it gives up.
  ASSERT_TRUE(platform.wait([&] { return platform.intx; }));
  EXPECT_TRUE(bar_read<uint8_t>(0x14) & VirtioPci::kStatusNeedsReset);
  EXPECT_EQ(bar_read<uint8_t>(VirtioPci::kIsrOffset), 2) << "a configuration change, not a queue";
  bar_write<uint8_t>(0x14, 0);
  EXPECT_EQ(bar_read<uint8_t>(0x14), 0);
  {
    std::lock_guard lock(platform.m_mutex);
    EXPECT_TRUE(platform.doorbells.empty()) << "reset removes the doorbells";
  }
  VirtqueueDriver fresh(memory, 0x4000, 16);
  bring_up(fresh, false);
  fresh.add_chain({{0x8000, 8, true}});
  bar_write<uint16_t>(VirtioPci::kNotifyOffset, 0);
  ASSERT_TRUE(platform.wait_for_interrupts(2)) << "no completion after reset";
  EXPECT_EQ(fresh.used_index(), 1);
}

// The common configuration as the driver reads it (for the selected queue).
std::array<uint8_t, VirtioPci::kCommonSize> common_config(VirtioPci& pci) {
  std::array<uint8_t, VirtioPci::kCommonSize> registers{};
  EXPECT_TRUE(pci.mmio_read(kBar + VirtioPci::kCommonOffset, registers));
  return registers;
}

void notify_queue0(VirtioPci& pci) {
  uint16_t queue = 0;
  EXPECT_TRUE(pci.mmio_write(kBar + VirtioPci::kNotifyOffset,
                             std::span(reinterpret_cast<const uint8_t*>(&queue), 2)));
}

TEST_F(VirtioPciTest, PausedDeviceServesNothingUntilResumed) {
  bring_up();
  device->pause();
  driver.add_chain({{0x8000, 8, true}});
  notify_queue0(*device);
  EXPECT_TRUE(platform.quiet_for(std::chrono::milliseconds(200), 0))
      << "a worker served the queue while paused";
  EXPECT_EQ(driver.used_index(), 0) << "no worker runs while paused";
  device->resume();
  ASSERT_TRUE(platform.wait_for_interrupts(1)) << "the kick was kept";
  EXPECT_EQ(driver.used_index(), 1);
}

// A snapshot of a running function (through its JSON text), restored into a freshly built one
// on another platform: the same registers, and the queue carries on where it stopped.
TEST_F(VirtioPciTest, SnapshotRestoresRegistersAndQueuePositions) {
  bar_write<uint16_t>(0x10, 0);  // configuration changes on vector 0
  bar_write<uint16_t>(0x16, 0);
  bar_write<uint16_t>(0x1a, 1);  // queue 0 on vector 1
  bring_up(true);
  driver.add_chain({{0x8000, 64, true}});
  notify_queue0(*device);
  ASSERT_TRUE(platform.wait_for_interrupts(1));
  ASSERT_EQ(driver.take_used().size(), 1u);
  ASSERT_TRUE(memory.fill(GuestAddr(0x8000), 64, 0));  // the driver took the randomness
  device->pause();
  DeviceState saved = DeviceState::parse(device->save_state().dump());
  EXPECT_EQ(saved["queues"][0]["position"]["next_avail"], 1);

  FakePlatform restored_platform;
  auto restored = VirtioPci::create(std::make_unique<Rng>(), memory, restored_platform, kSlot);
  ASSERT_TRUE(restored);
  auto result = (*restored)->restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ((*restored)->status(), device->status());
  EXPECT_EQ(common_config(**restored), common_config(*device));
  {
    std::lock_guard lock(restored_platform.m_mutex);
    EXPECT_EQ(restored_platform.doorbells, std::vector<uint64_t>{kBar + VirtioPci::kNotifyOffset})
        << "the restored function decodes its BAR and serves the doorbell";
  }
  (*restored)->pause();
  EXPECT_EQ((*restored)->save_state(), saved);
  (*restored)->resume();

  driver.set_used_event(1);  // event index: interrupt me for the next one
  uint16_t second = driver.add_chain({{0x9000, 16, true}});
  notify_queue0(**restored);
  ASSERT_TRUE(restored_platform.wait_for_interrupts(1))
      << "the restored function raised no interrupt for the driver's used event";
  auto used = driver.take_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, second);
  EXPECT_EQ(used[0].length, 16u);
  std::array<uint8_t, 64> first{};
  ASSERT_TRUE(memory.read_bytes(GuestAddr(0x8000), first));
  EXPECT_EQ(first, (std::array<uint8_t, 64>{}))
      << "the request before the snapshot was served again";
}

TEST_F(VirtioPciTest, ASnapshotOfAnotherDeviceKindIsRefused) {
  bring_up();
  device->pause();
  DeviceState saved = DeviceState::parse(device->save_state().dump());
  FakePlatform other_platform;
  auto console = Console::create([](std::span<const uint8_t>) {});
  ASSERT_TRUE(console);
  auto other = VirtioPci::create(std::move(*console), memory, other_platform, kSlot).value();
  auto result = other->restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("1af4:1044 is not this 1af4:1043"), std::string::npos)
      << result.error().message();
  EXPECT_EQ(other->status(), 0);
  std::lock_guard lock(other_platform.m_mutex);
  EXPECT_TRUE(other_platform.doorbells.empty());
}

TEST_F(VirtioPciTest, ASnapshotWithFeaturesNeverOfferedIsRefused) {
  bring_up();
  device->pause();
  DeviceState saved = DeviceState::parse(device->save_state().dump());
  saved["driver_features"] = saved["driver_features"].get<uint64_t>() | 1ull << 40;
  FakePlatform other_platform;
  auto other = VirtioPci::create(std::make_unique<Rng>(), memory, other_platform, kSlot).value();
  auto result = other->restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("never offered"), std::string::npos)
      << result.error().message();
  auto running = device->restore_state(DeviceState::parse(device->save_state().dump()));
  ASSERT_FALSE(running);
  EXPECT_NE(running.error().message().find("already running"), std::string::npos);
}

}  // namespace
}  // namespace haven::devices::virtio
