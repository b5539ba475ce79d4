#include "devices/virtio/virtqueue.h"

#include <gtest/gtest.h>

#include "devices/virtio/buffers.h"
#include "support/virtqueue_driver.h"

namespace haven::devices::virtio {
namespace {

using memory::GuestAddr;
using testing::DriverBuffer;
using testing::VirtqueueDriver;

constexpr uint64_t kMemorySize = 1 << 20;
constexpr uint64_t kRings = 0x1000;
constexpr uint64_t kData = 0x10000;
constexpr uint16_t kSize = 16;

memory::GuestMemory make_memory() {
  memory::RegionSpec spec{GuestAddr(0), kMemorySize};
  return memory::GuestMemory::create(std::span(&spec, 1)).value();
}

// The next chain, which the test knows is there.
DescriptorChain take(Virtqueue& q) {
  return q.pop().value().value();
}

class VirtqueueTest : public ::testing::Test {
 protected:
  Virtqueue queue(bool indirect = true, bool event_index = false) {
    return Virtqueue::create(memory, driver.layout(), indirect, event_index).value();
  }
  // Pops and expects an error mentioning `what`.
  void expect_broken(Virtqueue& q, const std::string& what) {
    auto popped = q.pop();
    ASSERT_FALSE(popped) << "the ring was accepted";
    EXPECT_NE(popped.error().message().find(what), std::string::npos) << popped.error().message();
  }

  memory::GuestMemory memory = make_memory();
  VirtqueueDriver driver{memory, kRings, kSize};
};

TEST_F(VirtqueueTest, EmptyQueuePopsNothing) {
  auto q = queue();
  auto popped = q.pop();
  ASSERT_TRUE(popped);
  EXPECT_FALSE(*popped);
}

TEST_F(VirtqueueTest, ChainSplitsIntoReadableAndWritableBuffers) {
  auto q = queue();
  uint16_t head = driver.add_chain(
      {{kData, 16, false}, {kData + 0x100, 512, false}, {kData + 0x1000, 1, true}});
  auto popped = q.pop().value();
  ASSERT_TRUE(popped);
  EXPECT_EQ(popped->head(), head);
  ASSERT_EQ(popped->readable().size(), 2u);
  ASSERT_EQ(popped->writable().size(), 1u);
  EXPECT_EQ(popped->readable()[1].address, GuestAddr(kData + 0x100));
  EXPECT_EQ(popped->readable_bytes(), 528u);
  EXPECT_EQ(popped->writable_bytes(), 1u);
  EXPECT_FALSE(q.pop().value());
}

TEST_F(VirtqueueTest, UsedRingCarriesHeadAndLength) {
  auto q = queue();
  uint16_t first = driver.add_chain({{kData, 8, true}});
  uint16_t second = driver.add_chain({{kData + 8, 8, true}});
  auto a = q.pop().value();
  auto b = q.pop().value();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(q.push_used(std::move(*b), 3));
  ASSERT_TRUE(q.push_used(std::move(*a), 8));
  auto used = driver.take_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, second);
  EXPECT_EQ(used[0].length, 3u);
  EXPECT_EQ(used[1].id, first);
  EXPECT_EQ(q.used_index(), 2);
}

TEST_F(VirtqueueTest, RingIndicesWrapAround) {
  // More requests than a 16-bit index counts.
  VirtqueueDriver wrap(memory, 0x40000, kSize);
  auto q2 = Virtqueue::create(memory, wrap.layout(), true, false).value();
  for (int i = 0; i < 70000; ++i) {
    wrap.add_chain({{kData, 4, true}});
    auto chain = q2.pop().value();
    ASSERT_TRUE(chain) << "at " << i;
    ASSERT_TRUE(q2.push_used(std::move(*chain), 4));
  }
  EXPECT_EQ(wrap.take_used().size(), 70000u % 65536u);
  EXPECT_EQ(q2.used_index(), static_cast<uint16_t>(70000));
}

TEST_F(VirtqueueTest, IndirectTableIsWalked) {
  auto q = queue(true);
  driver.add_indirect_chain(0x8000,
                            {{kData, 16, false}, {kData + 16, 100, true}, {kData + 200, 1, true}});
  auto chain = q.pop().value();
  ASSERT_TRUE(chain);
  EXPECT_EQ(chain->readable().size(), 1u);
  EXPECT_EQ(chain->writable().size(), 2u);
  EXPECT_EQ(chain->writable_bytes(), 101u);
}

TEST_F(VirtqueueTest, IndirectWithoutTheFeatureBreaksTheQueue) {
  auto q = queue(false);
  driver.add_indirect_chain(0x8000, {{kData, 16, false}});
  expect_broken(q, "without the feature");
}

TEST_F(VirtqueueTest, LoopingChainBreaksTheQueue) {
  auto q = queue();
  driver.write_descriptor(0, kData, 4, VirtqueueDriver::kNext, 1);
  driver.write_descriptor(1, kData, 4, VirtqueueDriver::kNext, 0);
  driver.publish(0);
  expect_broken(q, "longer than the queue");
}

TEST_F(VirtqueueTest, HeadOutOfRangeBreaksTheQueue) {
  auto q = queue();
  driver.publish(kSize);
  expect_broken(q, "head index");
}

TEST_F(VirtqueueTest, NextOutOfRangeBreaksTheQueue) {
  auto q = queue();
  driver.write_descriptor(0, kData, 4, VirtqueueDriver::kNext, 999);
  driver.publish(0);
  expect_broken(q, "next index");
}

TEST_F(VirtqueueTest, BufferOutsideGuestMemoryBreaksTheQueue) {
  auto q = queue();
  driver.add_chain({{kMemorySize - 8, 16, true}});
  expect_broken(q, "outside guest memory");
}

TEST_F(VirtqueueTest, BufferWrappingTheAddressSpaceBreaksTheQueue) {
  auto q = queue();
  driver.add_chain({{~0ull - 4, 16, false}});
  expect_broken(q, "outside guest memory");
}

TEST_F(VirtqueueTest, ReadableAfterWritableBreaksTheQueue) {
  auto q = queue();
  driver.add_chain({{kData, 4, true}, {kData + 4, 4, false}});
  expect_broken(q, "follows a device-writable");
}

TEST_F(VirtqueueTest, NestedIndirectBreaksTheQueue) {
  auto q = queue();
  // Entry 0 of the table is itself indirect.
  (void)memory.write<uint64_t>(GuestAddr(0x8000), 0x9000);
  (void)memory.write<uint32_t>(GuestAddr(0x8008), 16);
  (void)memory.write<uint16_t>(GuestAddr(0x800c), VirtqueueDriver::kIndirect);
  driver.write_descriptor(0, 0x8000, 16, VirtqueueDriver::kIndirect, 0);
  driver.publish(0);
  expect_broken(q, "nested indirect");
}

TEST_F(VirtqueueTest, IndirectTableOfOddLengthBreaksTheQueue) {
  auto q = queue();
  driver.write_descriptor(0, 0x8000, 20, VirtqueueDriver::kIndirect, 0);
  driver.publish(0);
  expect_broken(q, "multiple of 16");
}

TEST_F(VirtqueueTest, IndirectTableTooLargeBreaksTheQueue) {
  auto q = queue();
  driver.write_descriptor(0, 0x8000, 16 * (Virtqueue::kMaxIndirectDescriptors + 1),
                          VirtqueueDriver::kIndirect, 0);
  driver.publish(0);
  expect_broken(q, "at most");
}

TEST_F(VirtqueueTest, IndirectLoopBreaksTheQueue) {
  auto q = queue();
  for (uint16_t i = 0; i < 2; ++i) {
    uint64_t at = 0x8000 + 16 * i;
    (void)memory.write<uint64_t>(GuestAddr(at), kData);
    (void)memory.write<uint32_t>(GuestAddr(at + 8), 4);
    (void)memory.write<uint16_t>(GuestAddr(at + 12), VirtqueueDriver::kNext);
    (void)memory.write<uint16_t>(GuestAddr(at + 14), static_cast<uint16_t>(1 - i));
  }
  driver.write_descriptor(0, 0x8000, 32, VirtqueueDriver::kIndirect, 0);
  driver.publish(0);
  expect_broken(q, "loops");
}

TEST_F(VirtqueueTest, IndirectWithNextFlagBreaksTheQueue) {
  auto q = queue();
  driver.write_descriptor(0, 0x8000, 16, VirtqueueDriver::kIndirect | VirtqueueDriver::kNext, 1);
  driver.publish(0);
  expect_broken(q, "next flag");
}

TEST_F(VirtqueueTest, DriverIndexJumpingPastTheQueueSizeBreaksIt) {
  auto q = queue();
  driver.set_driver_index(kSize + 1);
  expect_broken(q, "jumped");
}

TEST_F(VirtqueueTest, CreateRejectsBadLayouts) {
  auto layout = driver.layout();
  layout.size = 12;
  EXPECT_FALSE(Virtqueue::create(memory, layout, true, true));
  layout = driver.layout();
  layout.size = 0;
  EXPECT_FALSE(Virtqueue::create(memory, layout, true, true));
  layout = driver.layout();
  layout.descriptors = GuestAddr(0x1008);
  EXPECT_FALSE(Virtqueue::create(memory, layout, true, true));
  layout = driver.layout();
  layout.device_ring = GuestAddr(kMemorySize - 8);
  EXPECT_FALSE(Virtqueue::create(memory, layout, true, true));
  layout = driver.layout();
  layout.driver_ring = GuestAddr(~0ull - 1);
  EXPECT_FALSE(Virtqueue::create(memory, layout, true, true));
}

TEST_F(VirtqueueTest, NoInterruptFlagSuppressesNotification) {
  auto q = queue(true, false);
  driver.add_chain({{kData, 4, true}});
  ASSERT_TRUE(q.push_used(take(q), 0));
  driver.set_driver_flags(1);
  EXPECT_FALSE(q.should_notify().value());
  driver.add_chain({{kData, 4, true}});
  ASSERT_TRUE(q.push_used(take(q), 0));
  driver.set_driver_flags(0);
  EXPECT_TRUE(q.should_notify().value());
  EXPECT_FALSE(q.should_notify().value()) << "nothing new was pushed";
}

TEST_F(VirtqueueTest, EventIndexNotifiesOnlyWhenTheUsedEventIsCrossed) {
  auto q = queue(true, true);
  driver.set_used_event(1);  // the driver wants to hear once the used index passes 1
  for (int i = 0; i < 2; ++i) driver.add_chain({{kData, 4, true}});
  ASSERT_TRUE(q.push_used(take(q), 0));  // used index 1: not past 1 yet
  EXPECT_FALSE(q.should_notify().value());
  ASSERT_TRUE(q.push_used(take(q), 0));  // used index 2: crossed
  EXPECT_TRUE(q.should_notify().value());
}

TEST_F(VirtqueueTest, EventIndexAsksForTheNextKickWhenEmpty) {
  auto q = queue(true, true);
  driver.add_chain({{kData, 4, true}});
  driver.add_chain({{kData, 4, true}});
  ASSERT_TRUE(q.pop().value());
  ASSERT_TRUE(q.pop().value());
  EXPECT_FALSE(q.pop().value());
  EXPECT_EQ(driver.avail_event(), 2);
}

TEST_F(VirtqueueTest, PositionLetsAQueueBuiltAgainCarryOn) {
  auto q = queue(true, true);
  EXPECT_EQ(q.position(), QueuePosition{});
  driver.set_used_event(0);
  driver.add_chain({{kData, 4, true}});
  driver.add_chain({{kData + 4, 4, true}});
  uint16_t third = driver.add_chain({{kData + 8, 4, true}});
  ASSERT_TRUE(q.push_used(take(q), 4));
  ASSERT_TRUE(q.should_notify().value());
  driver.set_used_event(1);  // the driver wants to hear of the second one too
  ASSERT_TRUE(q.push_used(take(q), 4));
  QueuePosition position = q.position();
  EXPECT_EQ(position, (QueuePosition{2, 2, 1}));

  // The same rings in a new process: without the position it would serve them from the start.
  auto fresh = queue(true, true);
  EXPECT_EQ(take(fresh).head(), 0) << "a new queue starts at the first request";
  auto again = queue(true, true);
  again.set_position(position);
  EXPECT_EQ(again.position(), position);
  EXPECT_EQ(again.used_index(), 2);
  EXPECT_TRUE(again.should_notify().value()) << "the second one is not notified yet";
  EXPECT_FALSE(again.should_notify().value()) << "nothing new since";
  auto chain = again.pop().value();
  ASSERT_TRUE(chain);
  EXPECT_EQ(chain->head(), third);
  EXPECT_FALSE(again.pop().value());
  ASSERT_TRUE(again.push_used(std::move(*chain), 4));
  auto used = driver.take_used();
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(used[2].id, third) << "written after the two used entries before the snapshot";
  EXPECT_EQ(driver.used_index(), 3);
}

TEST(VirtioBuffers, CopiesAcrossBufferBoundaries) {
  auto memory = make_memory();
  std::vector<Buffer> buffers = {{GuestAddr(0x100), 3}, {GuestAddr(0x200), 5}};
  std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(copy_to_buffers(memory, buffers, 1, data));
  EXPECT_EQ(memory.read<uint8_t>(GuestAddr(0x101)).value(), 1);
  EXPECT_EQ(memory.read<uint8_t>(GuestAddr(0x102)).value(), 2);
  EXPECT_EQ(memory.read<uint8_t>(GuestAddr(0x200)).value(), 3);
  EXPECT_EQ(memory.read<uint8_t>(GuestAddr(0x203)).value(), 6);
  std::vector<uint8_t> back(6);
  ASSERT_TRUE(copy_from_buffers(memory, buffers, 1, back));
  EXPECT_EQ(back, data);
  auto iovecs = buffer_iovecs(memory, buffers, 2, 4).value();
  ASSERT_EQ(iovecs.size(), 2u);
  EXPECT_EQ(iovecs[0].iov_len, 1u);
  EXPECT_EQ(iovecs[1].iov_len, 3u);
}

TEST(VirtioBuffers, RefusesToOverrunTheBuffers) {
  auto memory = make_memory();
  std::vector<Buffer> buffers = {{GuestAddr(0x100), 3}};
  std::vector<uint8_t> data(4);
  EXPECT_FALSE(copy_to_buffers(memory, buffers, 0, data));
  EXPECT_FALSE(copy_from_buffers(memory, buffers, 1, std::span(data).first(3)));
}

TEST_F(VirtqueueTest, AChainIsGivenBackOnlyOnce) {
  auto q = queue();
  driver.add_chain({{kData, 8, true}});
  DescriptorChain chain = take(q);
  EXPECT_FALSE(chain.spent());
  DescriptorChain moved = std::move(chain);
  EXPECT_TRUE(chain.spent())
      << "a moved-from chain is no request";  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(chain.writable_bytes(), 0u);      // NOLINT(bugprone-use-after-move)
  ASSERT_TRUE(q.push_used(std::move(moved), 8));
  auto again = q.push_used(std::move(moved), 8);  // NOLINT(bugprone-use-after-move)
  ASSERT_FALSE(again) << "the request went back to the driver twice";
  EXPECT_NE(again.error().message().find("completed twice"), std::string::npos)
      << again.error().message();
  EXPECT_EQ(driver.take_used().size(), 1u);
  EXPECT_EQ(q.used_index(), 1);
  EXPECT_FALSE(q.push_used(DescriptorChain(), 0)) << "a chain never popped is no request either";
}

TEST_F(VirtqueueTest, MoreWrittenThanTheBuffersHoldIsRefused) {
  auto q = queue();
  driver.add_chain({{kData, 16, false}, {kData + 16, 8, true}});
  auto pushed = q.push_used(take(q), 9);
  ASSERT_FALSE(pushed);
  EXPECT_NE(pushed.error().message().find("9 bytes reported written into 8"), std::string::npos)
      << pushed.error().message();
  EXPECT_TRUE(driver.take_used().empty());
}

TEST_F(VirtqueueTest, UndoPopServesTheSameChainAgain) {
  auto q = queue();
  uint16_t head = driver.add_chain({{kData, 8, true}});
  q.undo_pop(take(q));
  DescriptorChain again = take(q);
  EXPECT_EQ(again.head(), head);
  q.undo_pop(DescriptorChain());  // not popped: nothing to give back
  EXPECT_FALSE(q.pop().value());
}

// A chain's bytes must fit the used ring's 32-bit length: 4096 indirect entries of 1 MiB each
// (the same guest memory every time, as a hostile driver may) make 4 GiB, one byte too many.
TEST_F(VirtqueueTest, ChainsLongerThanTheUsedLengthCanSayAreRefused) {
  auto q = queue(true);
  std::vector<DriverBuffer> huge(Virtqueue::kMaxIndirectDescriptors,
                                 {0, static_cast<uint32_t>(kMemorySize), true});
  driver.add_indirect_chain(0x20000, huge);
  expect_broken(q, "device-writable buffers of more than 4294967295 bytes");
  huge.pop_back();  // 4 GiB less 1 MiB: a (silly) chain, but one the ring can report
  VirtqueueDriver fits(memory, 0x40000, kSize);
  fits.add_indirect_chain(0x20000, huge);
  auto fitting = Virtqueue::create(memory, fits.layout(), true, false).value();
  auto chain = take(fitting);
  EXPECT_EQ(chain.writable_bytes(), (Virtqueue::kMaxIndirectDescriptors - 1) * kMemorySize);
}

}  // namespace
}  // namespace haven::devices::virtio
