#include "devices/virtio/block.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/sys.h"
#include "support/event_interrupts.h"
#include "support/virtqueue_driver.h"

namespace haven::devices::virtio {
namespace {

using memory::GuestAddr;
using testing::DriverBuffer;
using testing::EventInterrupts;
using testing::UsedElement;
using testing::VirtqueueDriver;

constexpr uint16_t kQueueSize = 256;
constexpr uint64_t kRings = 0x10000, kHeaders = 0x20000, kStatus = 0x30000, kData = 0x40000;
constexpr uint64_t kDiskBytes = 1 << 20;  // 2048 sectors

// Byte i of the image is a function of i, so a read can be checked anywhere.
uint8_t pattern(uint64_t offset) {
  return static_cast<uint8_t>(offset * 7 + offset / 512);
}

class BlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_path = ::testing::TempDir() + "haven-block-test-XXXXXX";
    int fd = ::mkstemp(m_path.data());
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> bytes(kDiskBytes);
    for (uint64_t i = 0; i < bytes.size(); ++i) bytes[i] = pattern(i);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
    memory::RegionSpec spec{GuestAddr(0), 4 << 20};
    m_memory.emplace(memory::GuestMemory::create(std::span(&spec, 1)).value());
    m_notify = sys::eventfd(0, EFD_NONBLOCK).value();
    m_interrupt = sys::eventfd(0, EFD_NONBLOCK).value();
    m_interrupts.emplace(m_interrupt.get());
  }
  void TearDown() override {
    m_block.reset();
    ::unlink(m_path.c_str());
    ::unlink(block::tracking_path(m_path).c_str());
  }

  void open(bool readonly = false, bool track_changes = false) {
    auto block = Block::open({m_path, readonly, false, "haven-serial-1234567890", track_changes});
    ASSERT_TRUE(block) << block.error().message();
    m_block = std::move(*block);
    activate();
  }
  void activate() {
    m_driver.emplace(*m_memory, kRings, kQueueSize);
    m_driver->set_used_event(0);
    Activation activation;
    activation.memory = &*m_memory;
    activation.features = kFeatureVersion1 | kFeatureEventIndex;
    activation.queues.emplace_back(
        Virtqueue::create(*m_memory, m_driver->layout(), false, true).value());
    activation.notify_fds = {m_notify.get()};
    activation.interrupts = &*m_interrupts;
    activation.fail = [this](const std::string& why) {
      std::lock_guard lock(m_mutex);
      m_failure = why;
      ::eventfd_write(m_interrupt.get(), 1);
    };
    auto activated = m_block->activate(std::move(activation));
    ASSERT_TRUE(activated) << activated.error().message();
  }

  // Publishes a request with a 16-byte header, `data` and a status byte; returns its head.
  uint16_t publish(uint32_t type, uint64_t sector, std::vector<DriverBuffer> data,
                   uint32_t slot = 0) {
    uint64_t header = kHeaders + 16ull * slot;
    EXPECT_TRUE(m_memory->write<uint32_t>(GuestAddr(header), type));
    EXPECT_TRUE(m_memory->write<uint32_t>(GuestAddr(header + 4), 0));
    EXPECT_TRUE(m_memory->write<uint64_t>(GuestAddr(header + 8), sector));
    EXPECT_TRUE(m_memory->write<uint8_t>(GuestAddr(kStatus + slot), 0xff));
    std::vector<DriverBuffer> chain{{header, 16, false}};
    chain.insert(chain.end(), data.begin(), data.end());
    chain.push_back({kStatus + slot, 1, true});
    return m_driver->add_chain(chain);
  }
  void kick() { ::eventfd_write(m_notify.get(), 1); }

  // Waits (up to 10 s, a bound rather than a synchronization) until `count` requests are
  // returned or the device fails.
  std::vector<UsedElement> wait_used(size_t count) {
    std::vector<UsedElement> used;
    while (used.size() < count) {
      m_driver->set_used_event(m_driver->used_index());
      auto more = m_driver->take_used();
      used.insert(used.end(), more.begin(), more.end());
      if (used.size() >= count || failed()) break;
      pollfd waiting{m_interrupt.get(), POLLIN, 0};
      if (::poll(&waiting, 1, 10'000) != 1) {
        ADD_FAILURE() << "no completion within 10 s";
        break;
      }
      eventfd_t ignored;
      ::eventfd_read(m_interrupt.get(), &ignored);
    }
    return used;
  }
  // Runs one request to completion; returns its status byte.
  uint8_t run(uint32_t type, uint64_t sector, std::vector<DriverBuffer> data,
              uint32_t* used_length = nullptr) {
    uint16_t head = publish(type, sector, std::move(data));
    kick();
    auto used = wait_used(1);
    EXPECT_EQ(used.size(), 1u);
    if (used.empty()) return 0xee;
    EXPECT_EQ(used[0].id, head);
    if (used_length) *used_length = used[0].length;
    return m_memory->read<uint8_t>(GuestAddr(kStatus)).value();
  }

  std::vector<uint8_t> guest_bytes(uint64_t address, size_t length) {
    std::vector<uint8_t> bytes(length);
    EXPECT_TRUE(m_memory->read_bytes(GuestAddr(address), bytes));
    return bytes;
  }
  std::vector<uint8_t> image_bytes(uint64_t offset, size_t length) {
    std::vector<uint8_t> bytes(length);
    int fd = ::open(m_path.c_str(), O_RDONLY);
    EXPECT_EQ(::pread(fd, bytes.data(), length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
    ::close(fd);
    return bytes;
  }
  bool failed() {
    std::lock_guard lock(m_mutex);
    return !m_failure.empty();
  }
  std::string failure() {
    std::lock_guard lock(m_mutex);
    return m_failure;
  }

  std::string m_path;
  std::optional<memory::GuestMemory> m_memory;
  UniqueFd m_notify, m_interrupt;
  std::optional<EventInterrupts> m_interrupts;
  std::optional<VirtqueueDriver> m_driver;
  std::unique_ptr<Block> m_block;
  std::mutex m_mutex;
  std::string m_failure;
};

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
