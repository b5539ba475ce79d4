// virtio-blk with several request queues (VIRTIO_BLK_F_MQ): each request completes on the queue
// it came from, with that queue's interrupt.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <vector>

#include "devices/virtio/block.h"
#include "virtio_block_fixture.h"

namespace haven::devices::virtio {
namespace {

using block_test::BlockTest;
using block_test::kData;
using block_test::kHeaders;
using block_test::kStatus;
using block_test::pattern;
using memory::GuestAddr;
using testing::DriverBuffer;
using testing::VirtqueueDriver;

constexpr uint16_t kQueues = 3;
constexpr uint64_t kRingsAt[kQueues] = {0x10000, 0x14000, 0x18000};

// Counts interrupts per queue, and wakes the test on each.
class QueueInterrupts final : public Interrupts {
 public:
  explicit QueueInterrupts(int fd) : m_fd(fd) {}
  void queue(uint16_t index) override {
    if (index < m_counts.size()) m_counts[index].fetch_add(1);
    ::eventfd_write(m_fd, 1);
  }
  void config_changed() override {}
  unsigned count(uint16_t index) const { return m_counts[index].load(); }

 private:
  int m_fd;
  std::array<std::atomic<unsigned>, kQueues> m_counts{};
};

class BlockQueuesTest : public BlockTest {
 protected:
  // Opens a disk of kQueues queues and activates those `enabled` says.
  void open_queues(std::array<bool, kQueues> enabled) {
    BlockOptions options{m_path, false, false, "serial", false, kQueues};
    auto block = Block::open(options);
    ASSERT_TRUE(block) << block.error().message();
    m_block = std::move(*block);
    m_queue_interrupts.emplace(m_interrupt.get());
    Activation activation;
    activation.memory = &*m_memory;
    activation.features = kFeatureVersion1 | kFeatureEventIndex | Block::kFeatureMultiQueue;
    for (uint16_t q = 0; q < kQueues; ++q) {
      m_notifies[q] = sys::eventfd(0, EFD_NONBLOCK).value();
      activation.notify_fds.push_back(m_notifies[q].get());
      if (!enabled[q]) {
        activation.queues.emplace_back();
        continue;
      }
      m_drivers[q].emplace(*m_memory, kRingsAt[q], 64);
      m_drivers[q]->set_used_event(0);
      activation.queues.emplace_back(
          Virtqueue::create(*m_memory, m_drivers[q]->layout(), false, true).value());
    }
    activation.interrupts = &*m_queue_interrupts;
    activation.fail = record_failure();
    auto activated = m_block->activate(std::move(activation));
    ASSERT_TRUE(activated) << activated.error().message();
  }

  // A one-sector read of `sector` on queue `q`, into its own buffer; returns the chain's head.
  uint16_t publish_read(uint16_t q, uint64_t sector) {
    uint64_t header = kHeaders + 16ull * q;
    EXPECT_TRUE(m_memory->write<uint32_t>(GuestAddr(header), Block::kTypeIn));
    EXPECT_TRUE(m_memory->write<uint32_t>(GuestAddr(header + 4), 0));
    EXPECT_TRUE(m_memory->write<uint64_t>(GuestAddr(header + 8), sector));
    EXPECT_TRUE(m_memory->write<uint8_t>(GuestAddr(kStatus + q), 0xff));
    // Interrupt me at the next completion (event index).
    m_drivers[q]->set_used_event(m_drivers[q]->used_index());
    return m_drivers[q]->add_chain(
        {{header, 16, false}, {kData + 512ull * q, 512, true}, {kStatus + q, 1, true}});
  }

  // Waits (a bound, not a synchronization) until queue `q` returned `count` requests and
  // raised its interrupt `interrupts` times: the interrupt follows the used ring's update.
  std::vector<testing::UsedElement> wait_on(uint16_t q, size_t count, unsigned interrupts) {
    std::vector<testing::UsedElement> used;
    for (int round = 0; round < 1000 && !failed(); ++round) {
      auto more = m_drivers[q]->take_used();
      used.insert(used.end(), more.begin(), more.end());
      if (used.size() >= count && m_queue_interrupts->count(q) >= interrupts) return used;
      pollfd waiting{m_interrupt.get(), POLLIN, 0};
      if (::poll(&waiting, 1, 10'000) != 1) break;
      eventfd_t ignored;
      ::eventfd_read(m_interrupt.get(), &ignored);
    }
    ADD_FAILURE() << "queue " << q << " returned " << used.size() << " of " << count
                  << " within 10 s; " << failure();
    return used;
  }

  std::array<UniqueFd, kQueues> m_notifies;
  std::array<std::optional<VirtqueueDriver>, kQueues> m_drivers;
  std::optional<QueueInterrupts> m_queue_interrupts;
};

TEST_F(BlockQueuesTest, OffersMultiQueueAndItsCountOnlyWithMoreThanOne) {
  open();  // the fixture's disk: one queue
  EXPECT_EQ(m_block->features() & Block::kFeatureMultiQueue, 0u);
  EXPECT_EQ(m_block->queue_sizes().size(), 1u);
  m_block.reset();
  open_queues({true, true, true});
  EXPECT_NE(m_block->features() & Block::kFeatureMultiQueue, 0u);
  EXPECT_EQ(m_block->queue_sizes(), std::vector<uint16_t>(kQueues, Block::kQueueSize));
  std::array<uint8_t, 2> count{};
  m_block->read_config(34, count);  // num_queues
  EXPECT_EQ(count[0] | (count[1] << 8), kQueues);
}

TEST_F(BlockQueuesTest, NoQueuesOrTooManyIsAnErrorNamingTheDisk) {
  for (uint16_t queues : {uint16_t{0}, uint16_t{Block::kMaxQueues + 1}}) {
    auto block = Block::open({m_path, false, false, "", false, queues});
    ASSERT_FALSE(block) << queues;
    EXPECT_NE(block.error().message().find(m_path), std::string::npos);
    EXPECT_NE(block.error().message().find("queues"), std::string::npos);
  }
}

TEST_F(BlockQueuesTest, EachRequestCompletesOnItsOwnQueueWithItsInterrupt) {
  open_queues({true, false, true});  // the driver left queue 1 off
  uint16_t head = publish_read(2, 7);
  ::eventfd_write(m_notifies[2].get(), 1);
  auto used = wait_on(2, 1, 1);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, head);
  EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(kStatus + 2)).value(), Block::kStatusOk);
  EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(kData + 1024)).value(), pattern(7 * 512));
  EXPECT_TRUE(m_drivers[0]->take_used().empty());  // nothing came back on queue 0
  EXPECT_EQ(m_queue_interrupts->count(0), 0u);

  // Requests on both queues at once: each comes back where it was made.
  uint16_t head0 = publish_read(0, 3);
  uint16_t head2 = publish_read(2, 11);
  ::eventfd_write(m_notifies[0].get(), 1);
  ::eventfd_write(m_notifies[2].get(), 1);
  auto used0 = wait_on(0, 1, 1);
  auto used2 = wait_on(2, 1, 2);
  ASSERT_EQ(used0.size(), 1u);
  ASSERT_EQ(used2.size(), 1u);
  EXPECT_EQ(used0[0].id, head0);
  EXPECT_EQ(used2[0].id, head2);
  EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(kData)).value(), pattern(3 * 512));
  EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(kData + 1024)).value(), pattern(11 * 512));
  EXPECT_EQ(m_queue_interrupts->count(1), 0u);
  EXPECT_FALSE(failed()) << failure();
  m_block->reset();  // every poll of every queue is cancelled: reset returns
}

TEST_F(BlockQueuesTest, ADriverWithoutMultiQueueUsesQueueZeroAlone) {
  open_queues({true, false, false});
  uint16_t head = publish_read(0, 5);
  ::eventfd_write(m_notifies[0].get(), 1);
  auto used = wait_on(0, 1, 1);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, head);
  EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(kData)).value(), pattern(5 * 512));
  m_block->reset();
}

TEST_F(BlockQueuesTest, PausingFinishesWhatIsInFlightOnEveryQueueAndResumeServesThemAgain) {
  open_queues({true, true, true});
  std::array<uint16_t, kQueues> heads{};
  for (uint16_t q = 0; q < kQueues; ++q) heads[q] = publish_read(q, 20 + q);
  for (uint16_t q = 0; q < kQueues; ++q) ::eventfd_write(m_notifies[q].get(), 1);
  for (uint16_t q = 0; q < kQueues; ++q) {
    auto used = wait_on(q, 1, 1);
    ASSERT_EQ(used.size(), 1u) << q;
    EXPECT_EQ(used[0].id, heads[q]) << q;
  }
  m_block->pause();
  auto resumed = m_block->resume();
  ASSERT_TRUE(resumed) << resumed.error().message();
  uint16_t head = publish_read(1, 40);
  ::eventfd_write(m_notifies[1].get(), 1);
  auto used = wait_on(1, 1, 2);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, head);
  EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(kData + 512)).value(), pattern(40 * 512));
  m_block->reset();
}

}  // namespace
}  // namespace haven::devices::virtio
