#include "devices/virtio/block.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "virtio_block_fixture.h"

namespace haven::devices::virtio {
namespace {

using block_test::BlockTest;
using block_test::kData;
using block_test::kDiskBytes;
using block_test::kHeaders;
using block_test::kStatus;
using block_test::pattern;
using memory::GuestAddr;
using testing::VirtqueueDriver;

TEST_F(BlockTest, AdvertisesCapacityAndFeatures) {
  open();
  EXPECT_EQ(m_block->capacity_sectors(), kDiskBytes / 512);
  std::array<uint8_t, 8> capacity{};
  m_block->read_config(0, capacity);
  uint64_t sectors = 0;
  std::memcpy(&sectors, capacity.data(), 8);
  EXPECT_EQ(sectors, kDiskBytes / 512);
  EXPECT_TRUE(m_block->features() & Block::kFeatureFlush);
  EXPECT_TRUE(m_block->features() & Block::kFeatureWriteZeroes);
  EXPECT_FALSE(m_block->features() & Block::kFeatureReadOnly);
}

TEST_F(BlockTest, ReadsWhatTheImageHolds) {
  open();
  uint32_t used_length = 0;
  // Two buffers, so the read is scattered.
  EXPECT_EQ(run(Block::kTypeIn, 3, {{kData, 512, true}, {kData + 4096, 1024, true}}, &used_length),
            Block::kStatusOk);
  EXPECT_EQ(used_length, 512u + 1024u + 1u);
  EXPECT_EQ(guest_bytes(kData, 512), image_bytes(3 * 512, 512));
  EXPECT_EQ(guest_bytes(kData + 4096, 1024), image_bytes(4 * 512, 1024));
}

TEST_F(BlockTest, WritesReachTheImage) {
  open();
  std::vector<uint8_t> payload(1024, 0x5a);
  ASSERT_TRUE(m_memory->write_bytes(GuestAddr(kData), payload));
  EXPECT_EQ(run(Block::kTypeOut, 10, {{kData, 1024, false}}), Block::kStatusOk);
  EXPECT_EQ(run(Block::kTypeFlush, 0, {}), Block::kStatusOk);
  EXPECT_EQ(image_bytes(10 * 512, 1024), payload);
  EXPECT_EQ(image_bytes(9 * 512, 512)[511], pattern(10 * 512 - 1)) << "the sector before";
}

TEST_F(BlockTest, GetIdAnswersTheSerialCutToTwentyBytes) {
  open();
  EXPECT_EQ(run(Block::kTypeGetId, 0, {{kData, Block::kIdBytes, true}}), Block::kStatusOk);
  auto id = guest_bytes(kData, Block::kIdBytes);
  EXPECT_EQ(std::string(id.begin(), id.end()), std::string("haven-serial-1234567890", 20));
}

TEST_F(BlockTest, ARequestPastTheEndFailsAndTouchesNothing) {
  open();
  std::vector<uint8_t> payload(1024, 0x11);
  ASSERT_TRUE(m_memory->write_bytes(GuestAddr(kData), payload));
  uint64_t last = kDiskBytes / 512 - 1;
  EXPECT_EQ(run(Block::kTypeOut, last, {{kData, 1024, false}}), Block::kStatusIoError);
  EXPECT_EQ(image_bytes(last * 512, 512), std::vector<uint8_t>([&] {
              std::vector<uint8_t> expected(512);
              for (size_t i = 0; i < 512; ++i) expected[i] = pattern(last * 512 + i);
              return expected;
            }()));
  EXPECT_EQ(run(Block::kTypeIn, ~uint64_t{0}, {{kData, 512, true}}), Block::kStatusIoError);
  EXPECT_FALSE(failed()) << "a wrong request is not a broken ring";
}

TEST_F(BlockTest, AnUnknownTypeIsUnsupported) {
  open();
  EXPECT_EQ(run(99, 0, {}), Block::kStatusUnsupported);
}

TEST_F(BlockTest, AReadOnlyDiskRefusesWritesAndKeepsReading) {
  open(/*readonly=*/true);
  EXPECT_TRUE(m_block->features() & Block::kFeatureReadOnly);
  EXPECT_FALSE(m_block->features() & Block::kFeatureDiscard);
  std::vector<uint8_t> payload(512, 0x77);
  ASSERT_TRUE(m_memory->write_bytes(GuestAddr(kData), payload));
  EXPECT_EQ(run(Block::kTypeOut, 0, {{kData, 512, false}}), Block::kStatusIoError);
  EXPECT_EQ(image_bytes(0, 1)[0], pattern(0));
  EXPECT_EQ(run(Block::kTypeIn, 0, {{kData, 512, true}}), Block::kStatusOk);
  EXPECT_EQ(guest_bytes(kData, 512), image_bytes(0, 512));
}

TEST_F(BlockTest, WriteZeroesAndDiscardReadBackAsZeros) {
  open();
  // One segment: sector, sector count, flags (bit 0: unmap allowed).
  auto segment = [&](uint64_t sector, uint32_t count, uint32_t flags) {
    EXPECT_TRUE(m_memory->write<uint64_t>(GuestAddr(kData), sector));
    EXPECT_TRUE(m_memory->write<uint32_t>(GuestAddr(kData + 8), count));
    EXPECT_TRUE(m_memory->write<uint32_t>(GuestAddr(kData + 12), flags));
  };
  segment(8, 16, 0);
  EXPECT_EQ(run(Block::kTypeWriteZeroes, 0, {{kData, 16, false}}), Block::kStatusOk);
  EXPECT_EQ(image_bytes(8 * 512, 16 * 512), std::vector<uint8_t>(16 * 512, 0));
  segment(64, 8, 0);
  EXPECT_EQ(run(Block::kTypeDiscard, 0, {{kData, 16, false}}), Block::kStatusOk);
  EXPECT_EQ(image_bytes(64 * 512, 8 * 512), std::vector<uint8_t>(8 * 512, 0));
  EXPECT_EQ(image_bytes(72 * 512, 1)[0], pattern(72 * 512)) << "the sector after";
}

TEST_F(BlockTest, WritesDiscardsAndWriteZeroesMarkTheDirtyBitmapReadsDoNot) {
  open(false, true);
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 0u);
  EXPECT_EQ(m_block->counters()["cbt_valid"], false) << "a first run has no baseline";
  EXPECT_EQ(run(Block::kTypeIn, 0, {{kData, 4096, true}}), Block::kStatusOk);
  EXPECT_EQ(run(Block::kTypeFlush, 0, {}), Block::kStatusOk);
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 0u) << "reads and flushes change nothing";
  EXPECT_EQ(run(Block::kTypeOut, 10, {{kData, 1024, false}}), Block::kStatusOk);  // block 0
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 1u);
  // Write zeroes over sectors 200..215 (byte 102400: block 1).
  EXPECT_TRUE(m_memory->write<uint64_t>(GuestAddr(kData), 200));
  EXPECT_TRUE(m_memory->write<uint32_t>(GuestAddr(kData + 8), 16));
  EXPECT_TRUE(m_memory->write<uint32_t>(GuestAddr(kData + 12), 0));
  EXPECT_EQ(run(Block::kTypeWriteZeroes, 0, {{kData, 16, false}}), Block::kStatusOk);
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 2u);
  // Closing writes the bits beside the image, no longer in use.
  m_block.reset();
  auto saved = block::read_tracking(block::tracking_path(m_path));
  ASSERT_TRUE(saved && *saved) << "IMAGE.cbt exists";
  block::DirtyBitmap bitmap(kDiskBytes);
  ASSERT_TRUE(bitmap.merge((*saved)->words));
  EXPECT_TRUE(bitmap.is_dirty(0));
  EXPECT_TRUE(bitmap.is_dirty(1));
  EXPECT_EQ(bitmap.dirty_count(), 2u);
}

TEST_F(BlockTest, AReadOnlyDiskIsNotTracked) {
  open(true, true);
  EXPECT_FALSE(m_block->counters().contains("dirty_blocks"));
  EXPECT_EQ(::access(block::tracking_path(m_path).c_str(), F_OK), -1);
}

TEST_F(BlockTest, ManyRequestsInFlightAllComplete) {
  open();
  constexpr uint32_t kRequests = 64;
  for (uint32_t slot = 0; slot < kRequests; ++slot)
    publish(Block::kTypeIn, slot * 8, {{kData + slot * 4096ull, 4096, true}}, slot);
  kick();
  auto used = wait_used(kRequests);
  ASSERT_EQ(used.size(), kRequests);
  for (uint32_t slot = 0; slot < kRequests; ++slot) {
    EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(kStatus + slot)).value(), Block::kStatusOk);
    EXPECT_EQ(guest_bytes(kData + slot * 4096ull, 4096), image_bytes(slot * 4096ull, 4096))
        << "request " << slot;
  }
}

TEST_F(BlockTest, AHostileChainBreaksTheDeviceAndResetRevivesIt) {
  open();
  // A descriptor that points at itself: the chain never ends.
  m_driver->write_descriptor(0, kHeaders, 16, VirtqueueDriver::kNext, 0);
  m_driver->publish(0);
  kick();
  wait_used(1);
  EXPECT_TRUE(failed());
  EXPECT_NE(failure().find("chain"), std::string::npos) << failure();

  m_block->reset();
  {
    std::lock_guard lock(m_mutex);
    m_failure.clear();
  }
  activate();  // fresh rings
  EXPECT_EQ(run(Block::kTypeIn, 0, {{kData, 512, true}}), Block::kStatusOk);
  EXPECT_FALSE(failed());
}

TEST_F(BlockTest, ResetWithRequestsInFlightWaitsForThemAndStartsClean) {
  open();
  constexpr uint32_t kRequests = 80;  // 240 of the 256 descriptors
  for (uint32_t slot = 0; slot < kRequests; ++slot)
    publish(Block::kTypeIn, slot * 8, {{kData + slot * 4096ull, 4096, true}}, slot);
  kick();
  m_block->reset();  // must not return while the kernel may still write guest memory
  ASSERT_TRUE(m_memory->fill(GuestAddr(kData), kRequests * 4096, 0xcc));
  // A full queue's worth after reset: every request slot must have come back.
  activate();
  for (uint32_t slot = 0; slot < kRequests; ++slot)
    publish(Block::kTypeIn, 1000, {{kData + 4096ull * 100, 512, true}}, slot);
  kick();
  EXPECT_EQ(wait_used(kRequests).size(), kRequests);
  EXPECT_EQ(guest_bytes(kData, kRequests * 4096), std::vector<uint8_t>(kRequests * 4096, 0xcc))
      << "a request from before the reset wrote guest memory after it";
}

TEST_F(BlockTest, OpeningAMissingOrEmptyImageSaysWhich) {
  auto missing = Block::open({m_path + ".missing", false, false, ""});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find(".missing"), std::string::npos);
  ASSERT_EQ(::truncate(m_path.c_str(), 0), 0);
  auto empty = Block::open({m_path, false, false, ""});
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("empty"), std::string::npos);
}

}  // namespace
}  // namespace haven::devices::virtio
