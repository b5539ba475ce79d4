#include "devices/virtio/buffers.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <numeric>

#include "support/virtqueue_driver.h"

namespace haven::devices::virtio {
namespace {

using memory::GuestAddr;
using testing::VirtqueueDriver;

constexpr uint64_t kMemorySize = 1 << 20;
constexpr uint64_t kData = 0x10000;

class ChainViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Readable: 3 bytes, then 5 bytes elsewhere; writable: 2 bytes, then 6 bytes.
    driver.add_chain({{kData, 3, false},
                      {kData + 0x100, 5, false},
                      {kData + 0x200, 2, true},
                      {kData + 0x300, 6, true}});
    auto queue = Virtqueue::create(memory, driver.layout(), true, false).value();
    chain = queue.pop().value().value();
    std::array<uint8_t, 8> bytes{};
    std::iota(bytes.begin(), bytes.end(), 1);  // 1..8 across the two readable buffers
    ASSERT_TRUE(memory.write_bytes(GuestAddr(kData), std::span(bytes).first(3)));
    ASSERT_TRUE(memory.write_bytes(GuestAddr(kData + 0x100), std::span(bytes).subspan(3)));
  }

  std::vector<uint8_t> guest(uint64_t address, size_t length) {
    std::vector<uint8_t> out(length);
    EXPECT_TRUE(memory.read_bytes(GuestAddr(address), out));
    return out;
  }

  memory::GuestMemory memory = [] {
    memory::RegionSpec spec{GuestAddr(0), kMemorySize};
    return memory::GuestMemory::create(std::span(&spec, 1)).value();
  }();
  VirtqueueDriver driver{memory, 0x1000, 16};
  DescriptorChain chain;
};

TEST_F(ChainViewTest, TheReaderReadsAcrossBuffersInOrder) {
  ChainReader reader(memory, chain);
  EXPECT_EQ(reader.remaining(), 8u);
  auto word = reader.read_object<uint32_t>();
  ASSERT_TRUE(word) << word.error().message();
  EXPECT_EQ(*word, 0x04030201u) << "bytes 1, 2, 3 from the first buffer and 4 from the second";
  EXPECT_EQ(reader.offset(), 4u);
  auto rest = reader.take_iovecs(4);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(static_cast<uint8_t*>((*rest)[0].iov_base)[0], 5);
  EXPECT_EQ(reader.remaining(), 0u);
}

TEST_F(ChainViewTest, TheReaderNeverGoesPastTheEnd) {
  ChainReader reader(memory, chain, 6);
  std::array<uint8_t, 3> three{};
  auto read = reader.read(three);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message().find("1 bytes more than its 8 readable"), std::string::npos)
      << read.error().message();
  EXPECT_EQ(reader.offset(), 6u) << "a failed read leaves the reader where it was";
  EXPECT_FALSE(reader.take_iovecs(3));
  EXPECT_TRUE(reader.read(std::span(three).first(2)));
  EXPECT_EQ(three[0], 7);
  EXPECT_EQ(ChainReader(memory, chain, 100).remaining(), 0u) << "a start past the end is the end";
}

TEST_F(ChainViewTest, TheWriterFillsAcrossBuffersAndCountsWhatItWrote) {
  ChainWriter writer(memory, chain);
  EXPECT_EQ(writer.remaining(), 8u);
  ASSERT_TRUE(writer.write_object<uint16_t>(0xbbaa));
  ASSERT_TRUE(writer.write(std::array<uint8_t, 1>{0xcc}));
  EXPECT_EQ(writer.offset(), 3u);
  EXPECT_EQ(guest(kData + 0x200, 2), (std::vector<uint8_t>{0xaa, 0xbb}));
  EXPECT_EQ(guest(kData + 0x300, 1), (std::vector<uint8_t>{0xcc}));
  auto iovecs = writer.take_iovecs(5);
  ASSERT_TRUE(iovecs);
  EXPECT_EQ((*iovecs)[0].iov_base, memory.span(GuestAddr(kData + 0x301), 5).value().data());
  EXPECT_EQ(writer.offset(), 8u);
  auto full = writer.write(std::array<uint8_t, 1>{0});
  ASSERT_FALSE(full) << "nothing is written past the buffers";
  EXPECT_EQ(writer.offset(), 8u);
}

TEST_F(ChainViewTest, AWriterMayStartPastAHeader) {
  ChainWriter data(memory, chain, 4);
  EXPECT_EQ(data.remaining(), 4u);
  ASSERT_TRUE(data.write(std::array<uint8_t, 4>{9, 9, 9, 9}));
  EXPECT_EQ(guest(kData + 0x300, 6), (std::vector<uint8_t>{0, 0, 9, 9, 9, 9}));
}

}  // namespace
}  // namespace haven::devices::virtio
