#pragma once

// The virtio-scsi tests' fixture: a small ISO-like image whose bytes are a function of their
// offset, and the real device driven through host-side virtqueue drivers in real guest memory
// (control and request queues; the event queue stays off, as firmware leaves it).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/sys.h"
#include "devices/virtio/scsi.h"
#include "support/event_interrupts.h"
#include "support/virtqueue_driver.h"
#include "support/wait_used.h"

namespace haven::devices::virtio::scsi_test {

using memory::GuestAddr;
using testing::DriverBuffer;
using testing::EventInterrupts;
using testing::UsedElement;
using testing::VirtqueueDriver;

inline constexpr uint64_t kControlRings = 0x10000, kRequestRings = 0x14000;
inline constexpr uint64_t kRequests = 0x20000, kResponses = 0x30000, kData = 0x40000;
inline constexpr uint64_t kImageBytes = 64 * 2048;
inline constexpr uint32_t kRequestBytes = 51, kResponseBytes = 108;

inline uint8_t pattern(uint64_t offset) {
  return static_cast<uint8_t>(offset * 13 + offset / 2048);
}

inline std::array<uint8_t, 8> lun_field(uint8_t target, uint16_t lun) {
  return {1, target, static_cast<uint8_t>(0x40 | lun >> 8), static_cast<uint8_t>(lun), 0, 0, 0, 0};
}

// One command request as the driver lays it out.
struct Command {
  std::vector<uint8_t> cdb;
  uint32_t data_in = 0;  // bytes of device-writable data buffer
  std::array<uint8_t, 8> lun = lun_field(0, 0);
  uint32_t response_bytes = kResponseBytes;
  uint32_t request_bytes = kRequestBytes;
  uint32_t data_out = 0;
  // Data-in split over two buffers 64 KiB apart (a scattered transfer).
  bool split = false;
};

struct Reply {
  uint32_t used_length = 0;
  uint32_t sense_len = 0, resid = 0;
  uint8_t status = 0xee, response = 0xee;
  std::vector<uint8_t> sense;  // the first 18 bytes of the sense field
  std::vector<uint8_t> data;   // the data-in buffers, whole
};

class ScsiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_path = ::testing::TempDir() + "haven-scsi-test-XXXXXX";
    int fd = ::mkstemp(m_path.data());
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> bytes(kImageBytes);
    for (uint64_t i = 0; i < bytes.size(); ++i) bytes[i] = pattern(i);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
    memory::RegionSpec spec{GuestAddr(0), 8 << 20};
    m_memory.emplace(memory::GuestMemory::create(std::span(&spec, 1)).value());
    for (auto& notify : m_notify) notify = sys::eventfd(0, EFD_NONBLOCK).value();
    m_interrupt = sys::eventfd(0, EFD_NONBLOCK).value();
    m_interrupts.emplace(m_interrupt.get());
  }
  void TearDown() override {
    m_scsi.reset();
    ::unlink(m_path.c_str());
  }

  void open() {
    auto scsi = Scsi::open(m_path);
    ASSERT_TRUE(scsi) << scsi.error().message();
    m_scsi = std::move(*scsi);
    activate();
  }
  // Fresh rings (or, with `positions`, the queues carried on from where those say).
  void activate(std::vector<std::optional<QueuePosition>> positions = {}) {
    if (positions.empty()) {
      m_control.emplace(*m_memory, kControlRings, Scsi::kQueueSize);
      m_request.emplace(*m_memory, kRequestRings, Scsi::kQueueSize);
    }
    Activation activation;
    activation.memory = &*m_memory;
    activation.features = kFeatureVersion1 | kFeatureEventIndex;
    for (VirtqueueDriver* driver :
         {&*m_control, static_cast<VirtqueueDriver*>(nullptr), &*m_request}) {
      if (!driver) {
        activation.queues.emplace_back();
        continue;
      }
      auto queue = Virtqueue::create(*m_memory, driver->layout(), false, true).value();
      size_t index = activation.queues.size();
      if (index < positions.size() && positions[index]) queue.set_position(*positions[index]);
      activation.queues.emplace_back(std::move(queue));
    }
    for (auto& notify : m_notify) activation.notify_fds.push_back(notify.get());
    activation.interrupts = &*m_interrupts;
    activation.fail = [this](const std::string& why) {
      std::lock_guard lock(m_mutex);
      m_failure = why;
      ::eventfd_write(m_interrupt.get(), 1);
    };
    auto activated = m_scsi->activate(std::move(activation));
    ASSERT_TRUE(activated) << activated.error().message();
  }

  // Publishes `command` in slot `slot` (its own header, response and data addresses).
  uint16_t publish(const Command& command, uint32_t slot = 0) {
    uint64_t request = kRequests + 0x100ull * slot, response = kResponses + 0x100ull * slot;
    uint64_t data = kData + 0x20000ull * slot;
    std::vector<uint8_t> header(std::max<size_t>(command.request_bytes, 51), 0);
    std::copy(command.lun.begin(), command.lun.end(), header.begin());
    std::copy_n(command.cdb.begin(), std::min<size_t>(command.cdb.size(), 32), header.begin() + 19);
    header.resize(command.request_bytes);
    EXPECT_TRUE(m_memory->write_bytes(GuestAddr(request), header));
    EXPECT_TRUE(m_memory->fill(GuestAddr(response), command.response_bytes, 0xee));
    EXPECT_TRUE(m_memory->fill(GuestAddr(data), 0x20000, 0xcc));
    std::vector<DriverBuffer> chain{{request, command.request_bytes, false}};
    if (command.data_out) chain.push_back({data + 0x10000, command.data_out, false});
    chain.push_back({response, command.response_bytes, true});
    if (command.split && command.data_in) {
      chain.push_back({data, command.data_in / 2, true});
      chain.push_back({data + 0x10000, command.data_in - command.data_in / 2, true});
    } else if (command.data_in) {
      chain.push_back({data, command.data_in, true});
    }
    return m_request->add_chain(chain);
  }
  void kick(uint16_t queue) { ::eventfd_write(m_notify[queue].get(), 1); }

  std::vector<UsedElement> wait_used(VirtqueueDriver& driver, size_t count) {
    return testing::wait_used(driver, m_interrupt.get(), count, [this] { return failed(); });
  }

  Reply reply(uint32_t slot, const Command& command, uint32_t used_length) {
    uint64_t response = kResponses + 0x100ull * slot, data = kData + 0x20000ull * slot;
    Reply reply;
    reply.used_length = used_length;
    reply.sense_len = m_memory->read<uint32_t>(GuestAddr(response)).value();
    reply.resid = m_memory->read<uint32_t>(GuestAddr(response + 4)).value();
    reply.status = m_memory->read<uint8_t>(GuestAddr(response + 10)).value();
    reply.response = m_memory->read<uint8_t>(GuestAddr(response + 11)).value();
    reply.sense = guest_bytes(response + 12, 18);
    if (command.split) {
      reply.data = guest_bytes(data, command.data_in / 2);
      auto second = guest_bytes(data + 0x10000, command.data_in - command.data_in / 2);
      reply.data.insert(reply.data.end(), second.begin(), second.end());
    } else {
      reply.data = guest_bytes(data, command.data_in);
    }
    return reply;
  }
  // Runs one command to completion.
  Reply run(const Command& command) {
    uint16_t head = publish(command);
    kick(Scsi::kRequestQueue);
    auto used = wait_used(*m_request, 1);
    EXPECT_EQ(used.size(), 1u);
    if (used.empty()) return {};
    EXPECT_EQ(used[0].id, head);
    return reply(0, command, used[0].length);
  }
  // Runs one control request of `request` bytes with `answer_bytes` of answer; returns them.
  std::vector<uint8_t> control(const std::vector<uint8_t>& request, uint32_t answer_bytes) {
    EXPECT_TRUE(m_memory->write_bytes(GuestAddr(kRequests), request));
    EXPECT_TRUE(m_memory->fill(GuestAddr(kResponses), answer_bytes, 0xee));
    m_control->add_chain({{kRequests, static_cast<uint32_t>(request.size()), false},
                          {kResponses, answer_bytes, true}});
    kick(Scsi::kControlQueue);
    EXPECT_EQ(wait_used(*m_control, 1).size(), 1u);
    return guest_bytes(kResponses, answer_bytes);
  }

  std::vector<uint8_t> guest_bytes(uint64_t address, size_t length) {
    std::vector<uint8_t> bytes(length);
    if (length == 0) return bytes;  // read_bytes would memcpy to a null pointer
    EXPECT_TRUE(m_memory->read_bytes(GuestAddr(address), bytes));
    return bytes;
  }
  static std::vector<uint8_t> image_bytes(uint64_t offset, size_t length) {
    std::vector<uint8_t> bytes(length);
    for (size_t i = 0; i < length; ++i) bytes[i] = pattern(offset + i);
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
  void clear_failure() {
    std::lock_guard lock(m_mutex);
    m_failure.clear();
  }

  std::string m_path;
  std::optional<memory::GuestMemory> m_memory;
  std::array<UniqueFd, 3> m_notify;
  UniqueFd m_interrupt;
  std::optional<EventInterrupts> m_interrupts;
  std::optional<VirtqueueDriver> m_control, m_request;
  std::unique_ptr<Scsi> m_scsi;
  std::mutex m_mutex;
  std::string m_failure;
};

}  // namespace haven::devices::virtio::scsi_test
