#include "devices/bus.h"

#include <gtest/gtest.h>

#include <memory>
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

}  // namespace
}  // namespace haven::devices
