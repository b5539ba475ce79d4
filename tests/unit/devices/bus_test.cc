#include "devices/bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace haven::devices {
namespace {

class RecordingDevice final : public BusDevice {
 public:
  std::string_view name() const override { return "recorder"; }
  void read(uint64_t offset, std::span<uint8_t> data) override {
    reads.push_back(offset);
    for (auto& byte : data) byte = 0x42;
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    writes.push_back({offset, data[0]});
  }
  std::vector<uint64_t> reads;
  std::vector<std::pair<uint64_t, uint8_t>> writes;
};

TEST(Bus, DispatchesWithOffsetsRelativeToTheRange) {
  Bus bus("pio");
  auto a = std::make_shared<RecordingDevice>();
  auto b = std::make_shared<RecordingDevice>();
  ASSERT_TRUE(bus.add(a, 0x3f8, 8));
  ASSERT_TRUE(bus.add(b, 0x60, 5));
  uint8_t value = 0;
  EXPECT_TRUE(bus.read(0x3fd, std::span(&value, 1)));
  EXPECT_EQ(value, 0x42);
  uint8_t seven = 7;
  EXPECT_TRUE(bus.write(0x64, std::span<const uint8_t>(&seven, 1)));
  EXPECT_EQ(a->reads, std::vector<uint64_t>{5});
  ASSERT_EQ(b->writes.size(), 1u);
  EXPECT_EQ(b->writes[0], (std::pair<uint64_t, uint8_t>{4, 7}));
}

TEST(Bus, EdgesOfARange) {
  Bus bus("pio");
  auto device = std::make_shared<RecordingDevice>();
  ASSERT_TRUE(bus.add(device, 0x100, 4));
  uint8_t value[2] = {};
  EXPECT_FALSE(bus.read(0xff, std::span(value, 1)));
  EXPECT_TRUE(bus.read(0x103, std::span(value, 1)));
  EXPECT_FALSE(bus.read(0x104, std::span(value, 1)));
  EXPECT_FALSE(bus.read(0x103, std::span(value, 2))) << "an access straddling the end";
}

TEST(Bus, UnclaimedReadsSeeAllOnes) {
  Bus bus("mmio");
  uint8_t value[4] = {1, 2, 3, 4};
  EXPECT_FALSE(bus.read(0xd0000000, std::span(value)));
  for (uint8_t byte : value) EXPECT_EQ(byte, 0xff);
  EXPECT_FALSE(bus.write(0xd0000000, std::span<const uint8_t>(value)));
}

TEST(Bus, OverlappingRangesAreRefused) {
  Bus bus("pio");
  ASSERT_TRUE(bus.add(std::make_shared<RecordingDevice>(), 0x100, 0x10));
  EXPECT_FALSE(bus.add(std::make_shared<RecordingDevice>(), 0x10f, 1));
  EXPECT_FALSE(bus.add(std::make_shared<RecordingDevice>(), 0xf8, 0x10));
  EXPECT_FALSE(bus.add(std::make_shared<RecordingDevice>(), 0x100, 0x10));
  EXPECT_TRUE(bus.add(std::make_shared<RecordingDevice>(), 0x110, 0x10));
  EXPECT_FALSE(bus.add(std::make_shared<RecordingDevice>(), ~0ull - 1, 4)) << "wrapping range";
  EXPECT_FALSE(bus.add(std::make_shared<RecordingDevice>(), 0x200, 0)) << "empty range";
}

// Records every access in full; reads return offset-derived bytes so a test can tell which
// device and which offset answered.
class NamedDevice final : public BusDevice {
 public:
  struct Access {
    uint64_t offset;
    std::vector<uint8_t> data;
    bool operator==(const Access&) const = default;
  };

  explicit NamedDevice(std::string name, uint8_t tag = 0) : m_name(std::move(name)), m_tag(tag) {}
  std::string_view name() const override { return m_name; }
  void read(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(m_tag + offset + i);
    reads.push_back({offset, std::vector<uint8_t>(data.begin(), data.end())});
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    writes.push_back({offset, std::vector<uint8_t>(data.begin(), data.end())});
  }

  std::vector<Access> reads;
  std::vector<Access> writes;

 private:
  std::string m_name;
  uint8_t m_tag;
};

TEST(Bus, WideAccessesArriveWhole) {
  Bus bus("mmio");
  auto device = std::make_shared<NamedDevice>("dev", 0x10);
  ASSERT_TRUE(bus.add(device, 0xd0000000, 0x1000));
  const uint8_t value[4] = {0xde, 0xad, 0xbe, 0xef};
  EXPECT_TRUE(bus.write(0xd0000ffc, value));
  ASSERT_EQ(device->writes.size(), 1u);
  EXPECT_EQ(device->writes[0], (NamedDevice::Access{0xffc, {0xde, 0xad, 0xbe, 0xef}}));
  uint8_t out[8] = {};
  EXPECT_TRUE(bus.read(0xd0000008, out));
  ASSERT_EQ(device->reads.size(), 1u);
  EXPECT_EQ(device->reads[0].offset, 8u);
  EXPECT_EQ(device->reads[0].data.size(), 8u);
  EXPECT_EQ(out[0], 0x18);
  EXPECT_EQ(out[7], 0x1f);
}

TEST(Bus, RangesAddedInAnyOrderDispatchToTheirOwner) {
  Bus bus("pio");
  auto high = std::make_shared<NamedDevice>("high", 0x30);
  auto low = std::make_shared<NamedDevice>("low", 0x10);
  auto middle = std::make_shared<NamedDevice>("middle", 0x20);
  ASSERT_TRUE(bus.add(high, 0x300, 0x10));
  ASSERT_TRUE(bus.add(low, 0x100, 0x10));
  ASSERT_TRUE(bus.add(middle, 0x200, 0x10));
  for (auto [address, expected] : {std::pair<uint64_t, uint8_t>{0x100, 0x10},
                                   {0x10f, 0x1f},
                                   {0x200, 0x20},
                                   {0x20f, 0x2f},
                                   {0x300, 0x30},
                                   {0x30f, 0x3f}}) {
    uint8_t value = 0;
    EXPECT_TRUE(bus.read(address, std::span(&value, 1))) << std::hex << address;
    EXPECT_EQ(value, expected) << std::hex << address;
  }
  EXPECT_EQ(low->reads.size(), 2u);
  EXPECT_EQ(middle->reads.size(), 2u);
  EXPECT_EQ(high->reads.size(), 2u);
  uint8_t value = 0;
  EXPECT_FALSE(bus.read(0x110, std::span(&value, 1))) << "gap after low";
  EXPECT_FALSE(bus.read(0x1ff, std::span(&value, 1))) << "gap before middle";
  EXPECT_FALSE(bus.read(0x310, std::span(&value, 1))) << "past the last range";
}

TEST(Bus, AdjacentRangesOnBothSidesAreFine) {
  Bus bus("pio");
  ASSERT_TRUE(bus.add(std::make_shared<NamedDevice>("middle"), 0x100, 0x10));
  EXPECT_TRUE(bus.add(std::make_shared<NamedDevice>("before"), 0xf0, 0x10));
  EXPECT_TRUE(bus.add(std::make_shared<NamedDevice>("after"), 0x110, 0x10));
  EXPECT_FALSE(bus.add(std::make_shared<NamedDevice>("inside"), 0x104, 4));
  EXPECT_FALSE(bus.add(std::make_shared<NamedDevice>("covering"), 0x0, 0x1000));
}

TEST(Bus, AnAccessStraddlingTwoDevicesReachesNeither) {
  Bus bus("pio");
  auto a = std::make_shared<NamedDevice>("a");
  auto b = std::make_shared<NamedDevice>("b");
  ASSERT_TRUE(bus.add(a, 0x100, 4));
  ASSERT_TRUE(bus.add(b, 0x104, 4));
  uint8_t out[4] = {};
  EXPECT_FALSE(bus.read(0x102, out));
  EXPECT_EQ(out[0], 0xff);
  EXPECT_EQ(out[3], 0xff);
  const uint8_t value[4] = {1, 2, 3, 4};
  EXPECT_FALSE(bus.write(0x102, value));
  EXPECT_TRUE(a->reads.empty() && a->writes.empty());
  EXPECT_TRUE(b->reads.empty() && b->writes.empty());
}

TEST(Bus, UnclaimedWritesReachNoDevice) {
  Bus bus("pio");
  auto device = std::make_shared<NamedDevice>("dev");
  ASSERT_TRUE(bus.add(device, 0x100, 4));
  const uint8_t value = 1;
  EXPECT_FALSE(bus.write(0xff, std::span(&value, 1)));
  EXPECT_FALSE(bus.write(0x104, std::span(&value, 1)));
  EXPECT_TRUE(device->writes.empty());
  EXPECT_TRUE(bus.write(0x100, std::span(&value, 1)));
  EXPECT_EQ(device->writes.size(), 1u);
}

TEST(Bus, AccessesNearTheTopOfTheAddressSpaceDoNotWrap) {
  Bus bus("mmio");
  auto device = std::make_shared<NamedDevice>("top");
  ASSERT_TRUE(bus.add(device, 0xffffffffffff0000ull, 0x1000));
  uint8_t out[8] = {};
  EXPECT_TRUE(bus.read(0xffffffffffff0ff8ull, out));
  EXPECT_FALSE(bus.read(0xffffffffffff0ffcull, out));
  EXPECT_FALSE(bus.read(0xfffffffffffffffcull, out));
  EXPECT_EQ(device->reads.size(), 1u);
}

TEST(Bus, TheSameDeviceMayServeTwoRanges) {
  Bus bus("pio");
  auto device = std::make_shared<NamedDevice>("twice");
  ASSERT_TRUE(bus.add(device, 0x60, 1));
  ASSERT_TRUE(bus.add(device, 0x64, 1));
  uint8_t value = 0;
  EXPECT_TRUE(bus.read(0x60, std::span(&value, 1)));
  EXPECT_TRUE(bus.read(0x64, std::span(&value, 1)));
  EXPECT_FALSE(bus.read(0x62, std::span(&value, 1)));
  ASSERT_EQ(device->reads.size(), 2u);
  EXPECT_EQ(device->reads[0].offset, 0u);
  EXPECT_EQ(device->reads[1].offset, 0u) << "offsets are relative to the range, not the device";
}

TEST(Bus, AddErrorsNameTheBusTheDeviceAndTheOneInTheWay) {
  Bus bus("pio");
  ASSERT_TRUE(bus.add(std::make_shared<NamedDevice>("uart"), 0x3f8, 8));
  auto after = bus.add(std::make_shared<NamedDevice>("late"), 0x3fc, 8);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().message(), "pio bus: late at 0x3fc+0x8 overlaps uart");
  auto before = bus.add(std::make_shared<NamedDevice>("early"), 0x3f0, 9);
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().message(), "pio bus: early at 0x3f0+0x9 overlaps uart");
  auto empty = bus.add(std::make_shared<NamedDevice>("empty"), 0x500, 0);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message(), "pio bus: bad range 0x500+0x0 for empty");
}

TEST(Bus, RemoveTakesOnlyTheDevicesOwnRange) {
  Bus bus("pio");
  auto device = std::make_shared<NamedDevice>("dev", 0x10);
  auto other = std::make_shared<NamedDevice>("other", 0x20);
  ASSERT_TRUE(bus.add(device, 0x100, 4));
  ASSERT_TRUE(bus.add(other, 0x200, 4));
  EXPECT_FALSE(bus.remove(*device, 0x101)) << "not where a range starts";
  EXPECT_FALSE(bus.remove(*device, 0x200)) << "another device's range";
  EXPECT_FALSE(bus.remove(NamedDevice("stranger"), 0x100)) << "a device the bus never had";
  uint8_t value = 0;
  EXPECT_TRUE(bus.read(0x100, std::span(&value, 1)));
  EXPECT_TRUE(bus.remove(*device, 0x100));
  EXPECT_FALSE(bus.remove(*device, 0x100)) << "already gone";
  EXPECT_FALSE(bus.read(0x100, std::span(&value, 1)));
  EXPECT_EQ(value, 0xff) << "an open bus where the range was";
  EXPECT_TRUE(bus.read(0x200, std::span(&value, 1)));
  EXPECT_EQ(value, 0x20) << "the other range stays";
}

TEST(Bus, ARemovedRangeCanBeTakenAgainAndADeviceCanMove) {
  Bus bus("pio");
  auto device = std::make_shared<NamedDevice>("pm", 0x40);
  ASSERT_TRUE(bus.add(device, 0xb000, 64));
  ASSERT_TRUE(bus.remove(*device, 0xb000));
  ASSERT_TRUE(bus.add(device, 0x600, 64)) << "moved, as firmware moves the PIIX4's PM block";
  ASSERT_TRUE(bus.add(std::make_shared<NamedDevice>("newcomer", 0x80), 0xb000, 64));
  uint8_t value = 0;
  EXPECT_TRUE(bus.read(0x608, std::span(&value, 1)));
  EXPECT_EQ(value, 0x48);
  EXPECT_TRUE(bus.read(0xb008, std::span(&value, 1)));
  EXPECT_EQ(value, 0x88);
  EXPECT_FALSE(bus.add(device, 0x620, 4)) << "still no overlaps after a move";
}

// Lookups take no lock (bus.h): a vCPU may have found a range just before another thread
// removed it and still be calling into the device, so the bus keeps what it ever held.
TEST(Bus, ARemovedDeviceStaysAliveUntilTheBusGoes) {
  std::weak_ptr<NamedDevice> watched;
  {
    Bus bus("pio");
    auto device = std::make_shared<NamedDevice>("dev");
    watched = device;
    ASSERT_TRUE(bus.add(device, 0x100, 4));
    ASSERT_TRUE(bus.remove(*device, 0x100));
    device.reset();
    EXPECT_FALSE(watched.expired());
  }
  EXPECT_TRUE(watched.expired()) << "and the bus lets go of it in the end";
}

// Answers tag + offset, from any thread (no recording: the reader thread below calls it while
// the main thread adds and removes ranges).
class TaggedDevice final : public BusDevice {
 public:
  explicit TaggedDevice(uint8_t tag) : m_tag(tag) {}
  std::string_view name() const override { return "tagged"; }
  void read(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(m_tag + offset + i);
  }
  void write(uint64_t, std::span<const uint8_t>) override {}

 private:
  uint8_t m_tag;
};

// Ranges come and go while vCPUs run (bus.h): a lookup racing with changes must see either the
// table before a change or the one after, never a half-edited one. Fixed devices sit between
// ranges that appear and disappear, so every insertion and erasure shifts the fixed ranges in
// the sorted table; a reader thread checks that each fixed range always answers with its own
// device at the right offset, and each coming-and-going range answers with its device or not at
// all. (Run under ASan, an in-place edit also shows as a use after free.)
TEST(Bus, ConcurrentLookupsNeverSeeATornTable) {
  constexpr int kSlots = 16;
  constexpr uint64_t kStride = 0x100, kLength = 0x10;
  Bus bus("pio");
  std::vector<std::shared_ptr<TaggedDevice>> devices;
  for (int slot = 0; slot < kSlots; ++slot) {
    devices.push_back(std::make_shared<TaggedDevice>(static_cast<uint8_t>(slot * 0x10)));
    if (slot % 2 == 0) {
      ASSERT_TRUE(bus.add(devices[slot], slot * kStride, kLength));
    }
  }

  std::atomic<bool> done{false};
  std::atomic<uint64_t> lookups{0};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!done.load(std::memory_order_acquire)) {
      for (int slot = 0; slot < kSlots; ++slot) {
        uint64_t offset = (lookups.load(std::memory_order_relaxed) + slot) % (kLength - 1);
        uint8_t value[2] = {};
        bool claimed = bus.read(slot * kStride + offset, value);
        auto expected = static_cast<uint8_t>(slot * 0x10 + offset);
        bool right_device = claimed && value[0] == expected && value[1] == expected + 1;
        bool open_bus = !claimed && value[0] == 0xff && value[1] == 0xff;
        if (slot % 2 == 0 ? !right_device : !(right_device || open_bus)) ++bad;
      }
      lookups.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (lookups.load() == 0) std::this_thread::yield();  // the reader is running
  // Add and remove the odd slots in a shifting order, with refused overlaps in between.
  for (int round = 0; round < 2000; ++round) {
    int slot = 1 + 2 * (round * 5 % (kSlots / 2));
    uint64_t base = slot * kStride;
    if (bus.remove(*devices[slot], base)) continue;
    EXPECT_TRUE(bus.add(devices[slot], base, kLength)) << "round " << round;
    EXPECT_FALSE(bus.add(devices[slot], base + kLength - 1, 2)) << "overlap, round " << round;
    EXPECT_FALSE(bus.remove(*devices[slot], base + 1));
  }
  // Let the reader finish at least a few passes over the final table too.
  uint64_t seen = lookups.load();
  while (lookups.load() < seen + 3) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  reader.join();
  EXPECT_EQ(bad.load(), 0) << "of " << lookups.load() << " passes";
  EXPECT_GT(lookups.load(), 3u);
}

TEST(Bus, AGuestMovingADeviceInALoopFindsItStuckAfterTheLastChange) {
  // Old tables live as long as the bus: their number is bounded, not the guest's to choose.
  Bus bus("pio");
  auto device = std::make_shared<TaggedDevice>(0x10);
  size_t changes = 0;
  while (changes < Bus::kMaxChanges) {
    ASSERT_TRUE(bus.add(device, 0x600, 0x40));
    ASSERT_TRUE(bus.remove(*device, 0x600));
    changes += 2;
  }
  auto refused = bus.add(device, 0x700, 0x40);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("last change"), std::string::npos);
  uint8_t value[1] = {};
  EXPECT_FALSE(bus.read(0x700, value)) << "nothing was added";
}

}  // namespace
}  // namespace haven::devices
