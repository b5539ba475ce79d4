#include "block/dirty_bitmap.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace haven::block {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = 1024 * 1024;

TEST(DirtyBitmap, MarksEveryBlockARangeTouches) {
  DirtyBitmap bitmap(10 * kMiB);  // 160 blocks of 64 KiB
  EXPECT_EQ(bitmap.block_count(), 160u);
  EXPECT_EQ(bitmap.dirty_count(), 0u);
  bitmap.mark(64 * kKiB - 512, 1024);  // straddles blocks 0 and 1
  EXPECT_TRUE(bitmap.is_dirty(0));
  EXPECT_TRUE(bitmap.is_dirty(1));
  EXPECT_FALSE(bitmap.is_dirty(2));
  bitmap.mark(100 * 64 * kKiB, 4096);  // inside block 100 only
  EXPECT_TRUE(bitmap.is_dirty(100));
  EXPECT_FALSE(bitmap.is_dirty(99));
  EXPECT_FALSE(bitmap.is_dirty(101));
  EXPECT_EQ(bitmap.dirty_count(), 3u);
  EXPECT_TRUE(bitmap.any_dirty(100 * 64 * kKiB + 1000, 10));
  EXPECT_FALSE(bitmap.any_dirty(2 * 64 * kKiB, 64 * kKiB));
}

TEST(DirtyBitmap, LongRangesSpanWordsAndStopAtTheDisksEnd) {
  DirtyBitmap bitmap(300 * 64 * kKiB + 4096);  // a partial last block: 301 blocks
  EXPECT_EQ(bitmap.block_count(), 301u);
  bitmap.mark(10 * 64 * kKiB, 200 * 64 * kKiB);  // blocks 10..209, across four words
  EXPECT_EQ(bitmap.dirty_count(), 200u);
  EXPECT_FALSE(bitmap.is_dirty(9));
  EXPECT_TRUE(bitmap.is_dirty(10));
  EXPECT_TRUE(bitmap.is_dirty(209));
  EXPECT_FALSE(bitmap.is_dirty(210));
  bitmap.mark(299 * 64 * kKiB, 100 * kMiB);  // runs off the end: only 299 and 300
  EXPECT_EQ(bitmap.dirty_count(), 202u);
  bitmap.mark(400 * kMiB, 10);  // wholly past the end
  bitmap.mark(0, 0);            // empty
  EXPECT_EQ(bitmap.dirty_count(), 202u);
  bitmap.mark_all();
  EXPECT_EQ(bitmap.dirty_count(), 301u);
}

TEST(DirtyBitmap, TakeReturnsTheBitsAndClearsThem) {
  DirtyBitmap bitmap(8 * kMiB);
  bitmap.mark(0, 1);
  bitmap.mark(7 * kMiB, 1);
  auto taken = bitmap.take();
  EXPECT_EQ(bitmap.dirty_count(), 0u);
  DirtyBitmap other(8 * kMiB);
  ASSERT_TRUE(other.merge(taken));
  EXPECT_EQ(other.dirty_count(), 2u);
  EXPECT_TRUE(other.is_dirty(7 * kMiB / (64 * kKiB)));
  // A failed backup gives its bits back; they join whatever was written meanwhile.
  bitmap.mark(kMiB, 1);
  ASSERT_TRUE(bitmap.merge(taken));
  EXPECT_EQ(bitmap.dirty_count(), 3u);
  EXPECT_FALSE(bitmap.merge(std::vector<uint64_t>(5, 0))) << "another disk size";
}

TEST(DirtyBitmap, MergeNeverSetsBitsPastTheLastBlock) {
  DirtyBitmap bitmap(3 * 64 * kKiB);  // 3 blocks in one word
  ASSERT_TRUE(bitmap.merge(std::vector<uint64_t>{~uint64_t{0}}));
  EXPECT_EQ(bitmap.dirty_count(), 3u);
}

TEST(DirtyBitmap, ConcurrentMarkingAndTakingLosesNothing) {
  DirtyBitmap bitmap(64 * kMiB, 4096);  // 16384 blocks
  std::vector<uint64_t> collected(bitmap.words().size(), 0);
  std::atomic<bool> done = false;
  std::jthread writer([&] {
    for (uint64_t block = 0; block < bitmap.block_count(); ++block) bitmap.mark(block * 4096, 1);
    done = true;
  });
  while (!done) {
    auto taken = bitmap.take();
    for (size_t i = 0; i < taken.size(); ++i) collected[i] |= taken[i];
  }
  writer.join();
  auto rest = bitmap.take();
  uint64_t total = 0;
  for (size_t i = 0; i < rest.size(); ++i) total += std::popcount(collected[i] | rest[i]);
  EXPECT_EQ(total, bitmap.block_count()) << "every write is in one take or another";
}

}  // namespace
}  // namespace haven::block
