#pragma once

// The virtio-blk tests' fixture: a 1 MiB image whose bytes are a function of their offset, and
// the real device driven through a host-side virtqueue driver in real guest memory.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/sys.h"
#include "devices/virtio/block.h"
#include "support/event_interrupts.h"
#include "support/virtqueue_driver.h"
#include "support/wait_used.h"

namespace haven::devices::virtio::block_test {

using memory::GuestAddr;
using testing::DriverBuffer;
using testing::EventInterrupts;
using testing::UsedElement;
using testing::VirtqueueDriver;

inline constexpr uint16_t kQueueSize = 256;
inline constexpr uint64_t kRings = 0x10000, kHeaders = 0x20000, kStatus = 0x30000, kData = 0x40000;
inline constexpr uint64_t kDiskBytes = 1 << 20;  // 2048 sectors

// Byte i of the image is a function of i, so a read can be checked anywhere.
inline uint8_t pattern(uint64_t offset) {
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

  // `lazy`: the image m_path is being restored (instant restore).
  void open(bool readonly = false, bool track_changes = false,
            std::unique_ptr<block::HydratingImage> lazy = {}) {
    auto block = Block::open({m_path, readonly, false, "haven-serial-1234567890", track_changes},
                             std::move(lazy));
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
    activation.fail = record_failure();
    auto activated = m_block->activate(std::move(activation));
    ASSERT_TRUE(activated) << activated.error().message();
  }

  // An activation's `fail`: keeps the reason and wakes whoever waits for an interrupt.
  std::function<void(const std::string&)> record_failure() {
    return [this](const std::string& why) {
      std::lock_guard lock(m_mutex);
      m_failure = why;
      ::eventfd_write(m_interrupt.get(), 1);
    };
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

  std::vector<UsedElement> wait_used(size_t count) {
    return testing::wait_used(*m_driver, m_interrupt.get(), count, [this] { return failed(); });
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

}  // namespace haven::devices::virtio::block_test
