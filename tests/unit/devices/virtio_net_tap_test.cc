// virtio-net on a real TAP (root, /dev/net/tun): frames the host sends on the TAP's interface
// reach the guest's receive buffers, frames the guest sends leave on it, and what cannot be
// carried is dropped and counted. The host's side is an AF_PACKET socket on the interface.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/sys.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtqueue.h"
#include "memory/guest_memory.h"
#include "support/event_interrupts.h"
#include "support/virtqueue_driver.h"
#include "support/wait_used.h"

namespace haven::devices::virtio {
namespace {

using memory::GuestAddr;
using testing::EventInterrupts;
using testing::UsedElement;
using testing::VirtqueueDriver;

constexpr uint64_t kRxRing = 0x10000, kTxRing = 0x20000, kRxData = 0x40000, kTxData = 0x80000;
constexpr uint16_t kRing = 64;
constexpr uint16_t kEtherType = 0x88b5;  // "local experimental": nothing else sends these

// Whether this process may create a TAP, found out without Net: one made and let go at once
// (a TAP nobody made persistent goes with its file descriptor).
bool host_allows_tap() {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ifreq request{};
  std::snprintf(request.ifr_name, IFNAMSIZ, "hvp%d", ::getpid());
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  bool made = ::ioctl(fd, TUNSETIFF, &request) == 0;
  ::close(fd);
  return made;
}

// An Ethernet frame of `length` bytes from `source` to `destination`, payload bytes `fill`.
std::vector<uint8_t> frame(const std::array<uint8_t, 6>& destination,
                           const std::array<uint8_t, 6>& source, size_t length, uint8_t fill) {
  std::vector<uint8_t> bytes(length, fill);
  std::memcpy(bytes.data(), destination.data(), 6);
  std::memcpy(bytes.data() + 6, source.data(), 6);
  bytes[12] = kEtherType >> 8;
  bytes[13] = kEtherType & 0xff;
  return bytes;
}

class NetTapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!host_allows_tap())
      GTEST_SKIP() << "no TAP can be made here (needs /dev/net/tun and CAP_NET_ADMIN)";
    m_name = "hvnt" + std::to_string(::getpid());  // at most 11 of IFNAMSIZ's 15
    auto net = Net::open({m_name, m_mac});
    ASSERT_TRUE(net) << "root with /dev/net/tun, yet: " << net.error().message();
    m_net = std::move(*net);
    // No IPv6 on the interface: its own router solicitations would be the guest's first
    // frames. (Without IPv6 in the kernel there is nothing to turn off.)
    std::string ipv6 = "/proc/sys/net/ipv6/conf/" + m_name + "/disable_ipv6";
    if (::access(ipv6.c_str(), F_OK) == 0) {
      FILE* file = std::fopen(ipv6.c_str(), "w");
      bool off = file && std::fputs("1", file) >= 0;
      if (file) off = std::fclose(file) == 0 && off;
      if (!off) GTEST_SKIP() << "cannot turn IPv6 off on the test's TAP (" << ipv6 << ")";
    }
    ASSERT_NO_FATAL_FAILURE(set_up(true));
    memory::RegionSpec spec{GuestAddr(0), 4 << 20};
    m_memory.emplace(memory::GuestMemory::create(std::span(&spec, 1)).value());
    for (auto* fd : {&m_rx_notify, &m_tx_notify, &m_interrupt})
      *fd = sys::eventfd(0, EFD_NONBLOCK).value();
    m_interrupts.emplace(m_interrupt.get());
    m_rx.emplace(*m_memory, kRxRing, kRing);
    m_tx.emplace(*m_memory, kTxRing, kRing);
    // The host's end: a packet socket on the interface, for our EtherType only.
    // Protocol 0 until bound: nothing from other interfaces queues up in between.
    m_packet = UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(m_packet.valid()) << std::strerror(errno);
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(kEtherType);
    address.sll_ifindex = static_cast<int>(::if_nametoindex(m_name.c_str()));
    ASSERT_GT(address.sll_ifindex, 0);
    ASSERT_EQ(::bind(m_packet.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0)
        << std::strerror(errno);
  }
  void TearDown() override {
    if (m_net) m_net->reset();
    m_net.reset();  // closing the TAP removes the interface
  }

  // Brings the TAP's interface up or down.
  void set_up(bool up) {
    UniqueFd control(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(control.valid());
    ifreq request{};
    std::strncpy(request.ifr_name, m_name.c_str(), IFNAMSIZ - 1);
    ASSERT_EQ(::ioctl(control.get(), SIOCGIFFLAGS, &request), 0) << std::strerror(errno);
    if (up)
      request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    else
      request.ifr_flags = static_cast<short>(request.ifr_flags & ~IFF_UP);
    ASSERT_EQ(::ioctl(control.get(), SIOCSIFFLAGS, &request), 0) << std::strerror(errno);
  }

  void activate() {
    m_rx->set_used_event(0);
    m_tx->set_used_event(0);
    Activation activation;
    activation.memory = &*m_memory;
    activation.features = kFeatureVersion1 | kFeatureEventIndex;
    activation.queues.emplace_back(
        Virtqueue::create(*m_memory, m_rx->layout(), false, true).value());
    activation.queues.emplace_back(
        Virtqueue::create(*m_memory, m_tx->layout(), false, true).value());
    activation.notify_fds = {m_rx_notify.get(), m_tx_notify.get()};
    activation.interrupts = &*m_interrupts;
    activation.fail = [this](const std::string& why) {
      std::lock_guard lock(m_mutex);
      m_failure = why;
      ::eventfd_write(m_interrupt.get(), 1);
    };
    auto activated = m_net->activate(std::move(activation));
    ASSERT_TRUE(activated) << activated.error().message();
  }

  // Waits (10 s at most, a bound that only turns a hang into a failure) until `driver` has
  // `count` used buffers in all.
  std::vector<UsedElement> wait_used(VirtqueueDriver& driver, size_t count) {
    return testing::wait_used(driver, m_interrupt.get(), count, [this] { return failed(); });
  }
  // Waits until the device's counter `name` reaches `value` (polled: a drop raises nothing).
  bool counter_reaches(const char* name, uint64_t value) {
    for (int i = 0; i < 2000; ++i) {
      if (m_net->counters()[name].get<uint64_t>() >= value) return true;
      ::usleep(5000);
    }
    return false;
  }
  // The host sends `bytes` out of the interface (toward the guest).
  void host_sends(const std::vector<uint8_t>& bytes) {
    ASSERT_EQ(::send(m_packet.get(), bytes.data(), bytes.size(), 0),
              static_cast<ssize_t>(bytes.size()))
        << std::strerror(errno);
  }
  // The next frame the host's socket receives (what the guest sent), or nullopt within 10 s.
  std::optional<std::vector<uint8_t>> host_receives() {
    pollfd waiting{m_packet.get(), POLLIN, 0};
    if (::poll(&waiting, 1, 10'000) != 1) return std::nullopt;
    std::vector<uint8_t> bytes(65536);
    ssize_t got = ::recv(m_packet.get(), bytes.data(), bytes.size(), 0);
    if (got < 0) return std::nullopt;
    bytes.resize(static_cast<size_t>(got));
    return bytes;
  }
  bool failed() {
    std::lock_guard lock(m_mutex);
    return !m_failure.empty();
  }
  // The guest offers one receive buffer of `room` bytes, the host sends `sent`: it arrives
  // whole after its header, in that buffer, with num_buffers 1.
  void expect_delivered(uint32_t room, const std::vector<uint8_t>& sent) {
    uint16_t head = m_rx->add_chain({{kRxData, room, true}});
    ::eventfd_write(m_rx_notify.get(), 1);
    ASSERT_NO_FATAL_FAILURE(host_sends(sent));
    auto used = wait_used(*m_rx, 1);
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].id, head);
    ASSERT_EQ(used[0].length, Net::kHeaderSize + sent.size());
    std::vector<uint8_t> got(sent.size());
    ASSERT_TRUE(m_memory->read_bytes(GuestAddr(kRxData + Net::kHeaderSize), got));
    EXPECT_EQ(got, sent);
    EXPECT_EQ(m_memory->read<uint16_t>(GuestAddr(kRxData + 10)).value(), 1) << "num_buffers";
  }
  // The guest queues `sent` for transmission behind a zero virtio-net header and kicks.
  void guest_sends(const std::vector<uint8_t>& sent) {
    std::vector<uint8_t> header(Net::kHeaderSize, 0);
    ASSERT_TRUE(m_memory->write_bytes(GuestAddr(kTxData), header));
    ASSERT_TRUE(m_memory->write_bytes(GuestAddr(kTxData + Net::kHeaderSize), sent));
    m_tx->add_chain({{kTxData, static_cast<uint32_t>(Net::kHeaderSize + sent.size()), false}});
    ::eventfd_write(m_tx_notify.get(), 1);
  }

  std::string m_name;
  std::array<uint8_t, 6> m_mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  std::array<uint8_t, 6> m_host{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  std::unique_ptr<Net> m_net;
  std::optional<memory::GuestMemory> m_memory;
  UniqueFd m_rx_notify, m_tx_notify, m_interrupt, m_packet;
  std::optional<EventInterrupts> m_interrupts;
  std::optional<VirtqueueDriver> m_rx, m_tx;
  std::mutex m_mutex;
  std::string m_failure;
};

TEST_F(NetTapTest, AHostFrameReachesTheGuestWithItsHeader) {
  ASSERT_NO_FATAL_FAILURE(activate());
  ASSERT_NO_FATAL_FAILURE(expect_delivered(2048, frame(m_mac, m_host, 100, 0xab)));
  EXPECT_EQ(m_net->counters()["rx_frames"], 1u);
}

// A buffer with room for any frame takes the direct path (readv from the TAP into guest
// memory), as a Linux guest's TSO-sized buffers do.
TEST_F(NetTapTest, ABufferWithRoomForAnyFrameIsFilledDirectly) {
  ASSERT_NO_FATAL_FAILURE(activate());
  uint32_t room = static_cast<uint32_t>(Net::kHeaderSize + Net::kMaxFrame);
  ASSERT_LT(kRxData + room, kTxData);
  ASSERT_NO_FATAL_FAILURE(expect_delivered(room, frame(m_mac, m_host, 1400, 0x5a)));
}

TEST_F(NetTapTest, AGuestFrameLeavesOnTheInterface) {
  ASSERT_NO_FATAL_FAILURE(activate());
  auto sent = frame(m_host, m_mac, 200, 0xcd);
  ASSERT_NO_FATAL_FAILURE(guest_sends(sent));
  auto received = host_receives();
  ASSERT_TRUE(received) << "nothing left the interface";
  EXPECT_EQ(*received, sent);
  ASSERT_EQ(wait_used(*m_tx, 1).size(), 1u) << "the buffer comes back";
  EXPECT_EQ(m_net->counters()["tx_frames"], 1u);
}

TEST_F(NetTapTest, WhatCannotBeSentIsDroppedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(activate());
  // Shorter than the virtio-net header: malformed.
  m_tx->add_chain({{kTxData, 8, false}});
  ::eventfd_write(m_tx_notify.get(), 1);
  ASSERT_EQ(wait_used(*m_tx, 1).size(), 1u);
  EXPECT_EQ(m_net->counters()["tx_dropped"], 1u);
  // The interface down: the TAP refuses the frame, as a NIC without link would drop it.
  ASSERT_NO_FATAL_FAILURE(set_up(false));
  auto sent = frame(m_host, m_mac, 100, 0x11);
  ASSERT_NO_FATAL_FAILURE(guest_sends(sent));
  ASSERT_EQ(wait_used(*m_tx, 1).size(), 1u);
  EXPECT_EQ(m_net->counters()["tx_dropped"], 2u);
  EXPECT_EQ(m_net->counters()["tx_frames"], 0u);
}

// A receive buffer shorter than the frame: the frame cannot be delivered whole, so it is
// dropped and counted (the TAP alone would cut it short without a word); the buffer stays the
// guest's for the next frame that fits, which arrives whole.
TEST_F(NetTapTest, AFrameLongerThanTheReceiveBufferIsDroppedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(activate());
  m_rx->add_chain({{kRxData, 64, true}});
  ::eventfd_write(m_rx_notify.get(), 1);
  host_sends(frame(m_mac, m_host, 1000, 0x22));
  ASSERT_TRUE(counter_reaches("rx_dropped", 1)) << m_net->counters().dump();
  EXPECT_EQ(m_net->counters()["rx_frames"], 0u);
  EXPECT_EQ(m_rx->used_index(), 0) << "nothing half-delivered";
  auto small = frame(m_mac, m_host, 40, 0x33);
  host_sends(small);
  auto used = wait_used(*m_rx, 1);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].length, Net::kHeaderSize + small.size());
  std::vector<uint8_t> got(small.size());
  ASSERT_TRUE(m_memory->read_bytes(GuestAddr(kRxData + Net::kHeaderSize), got));
  EXPECT_EQ(got, small);
  EXPECT_FALSE(failed());
}

// No receive buffers: frames wait in the TAP's queue (the device stops watching it) and come
// in once the guest adds buffers.
TEST_F(NetTapTest, FramesWaitForReceiveBuffers) {
  ASSERT_NO_FATAL_FAILURE(activate());
  ::eventfd_write(m_rx_notify.get(), 1);
  auto first = frame(m_mac, m_host, 80, 0x44), second = frame(m_mac, m_host, 90, 0x55);
  host_sends(first);
  host_sends(second);
  m_rx->add_chain({{kRxData, 2048, true}});
  m_rx->add_chain({{kRxData + 4096, 2048, true}});
  ::eventfd_write(m_rx_notify.get(), 1);
  auto used = wait_used(*m_rx, 2);
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].length, Net::kHeaderSize + first.size());
  EXPECT_EQ(used[1].length, Net::kHeaderSize + second.size());
  EXPECT_EQ(m_net->counters()["rx_dropped"], 0u);
}

// Paused, the device takes nothing; resumed, it goes on from the same queue positions.
TEST_F(NetTapTest, APausedDeviceTakesNothingUntilResumed) {
  ASSERT_NO_FATAL_FAILURE(activate());
  m_net->pause();
  m_rx->add_chain({{kRxData, 2048, true}});
  ::eventfd_write(m_rx_notify.get(), 1);
  host_sends(frame(m_mac, m_host, 60, 0x66));
  pollfd waiting{m_interrupt.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&waiting, 1, 200), 0) << "a paused device delivered a frame";
  auto positions = m_net->queue_positions();
  ASSERT_EQ(positions.size(), 2u);
  ASSERT_TRUE(positions[0]);
  EXPECT_EQ(positions[0]->next_avail, 0);
  ASSERT_TRUE(m_net->resume());
  ASSERT_EQ(wait_used(*m_rx, 1).size(), 1u);
}

}  // namespace
}  // namespace haven::devices::virtio
