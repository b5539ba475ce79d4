#include "block/change_tracker.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace haven::block {
namespace {

constexpr uint32_t kBlock = DirtyBitmap::kDefaultGranularity;
constexpr uint64_t kDisk = 16 * kBlock;

std::vector<uint64_t> bits(std::initializer_list<uint64_t> blocks) {
  std::vector<uint64_t> words(1, 0);
  for (uint64_t block : blocks) words[0] |= uint64_t{1} << block;
  return words;
}

class ChangeTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-cbt-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
    m_image = m_dir + "/disk.img";
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  std::unique_ptr<ChangeTracker> open() {
    auto tracker = ChangeTracker::open(m_image, kDisk);
    EXPECT_TRUE(tracker) << tracker.error().message();
    return tracker ? std::move(*tracker) : nullptr;
  }
  // IMAGE.cbt as saved.
  TrackingState saved() {
    auto state = read_tracking(tracking_path(m_image));
    EXPECT_TRUE(state && *state) << "IMAGE.cbt exists";
    return state && *state ? **state : TrackingState{};
  }

  std::string m_dir, m_image;
};

TEST_F(ChangeTrackerTest, ABackupTakesTheBitsAndNewMarksStayInTheBitmap) {
  auto tracker = open();
  ASSERT_TRUE(tracker);
  EXPECT_FALSE(tracker->valid()) << "no file yet";
  tracker->mark(0, 1);
  tracker->mark(3 * kBlock + 10, kBlock);  // blocks 3 and 4
  EXPECT_FALSE(tracker->backup_pending());
  EXPECT_EQ(tracker->begin_backup(), bits({0, 3, 4}));
  EXPECT_TRUE(tracker->backup_pending());
  EXPECT_EQ(tracker->bitmap().dirty_count(), 0u);
  tracker->mark(7 * kBlock, 1);
  tracker->mark(0, 1);
  EXPECT_EQ(tracker->bitmap().words(), bits({0, 7}));
}

TEST_F(ChangeTrackerTest, ACommittedBackupDropsWhatItTookAndBecomesTheBaseline) {
  auto tracker = open();
  tracker->mark(kBlock, 1);
  tracker->begin_backup();
  tracker->mark(2 * kBlock, 1);
  tracker->end_backup(true, "repo/snap-1");
  EXPECT_FALSE(tracker->backup_pending());
  EXPECT_TRUE(tracker->valid());
  EXPECT_EQ(tracker->baseline(), "repo/snap-1");
  EXPECT_EQ(tracker->bitmap().words(), bits({2}));
  tracker.reset();
  auto state = saved();
  EXPECT_TRUE(state.valid);
  EXPECT_EQ(state.baseline, "repo/snap-1");
  EXPECT_EQ(state.words, bits({2}));
}

TEST_F(ChangeTrackerTest, AFailedBackupGivesItsBitsBack) {
  auto tracker = open();
  tracker->mark(kBlock, 1);
  tracker->begin_backup();
  tracker->end_backup(true, "repo/snap-1");
  tracker->mark(5 * kBlock, 1);
  EXPECT_EQ(tracker->begin_backup(), bits({5}));
  tracker->mark(6 * kBlock, 1);
  tracker->end_backup(false, "repo/snap-2");
  EXPECT_FALSE(tracker->backup_pending());
  EXPECT_EQ(tracker->bitmap().words(), bits({5, 6}));
  EXPECT_TRUE(tracker->valid());
  EXPECT_EQ(tracker->baseline(), "repo/snap-1") << "the failed one names nothing";
}

TEST_F(ChangeTrackerTest, ABackupThatNeverEndedIsSavedAsChanged) {
  {
    auto tracker = open();
    tracker->mark(0, 1);
    tracker->begin_backup();
    tracker->end_backup(true, "repo/snap-1");
    tracker->mark(2 * kBlock, 1);
    EXPECT_EQ(tracker->begin_backup(), bits({2}));
    tracker->mark(9 * kBlock, 1);
  }  // destroyed with the backup pending
  auto state = saved();
  EXPECT_TRUE(state.valid);
  EXPECT_EQ(state.baseline, "repo/snap-1");
  EXPECT_EQ(state.words, bits({2, 9}));
  // And a VMM opening it again starts from those bits.
  auto reopened = open();
  EXPECT_TRUE(reopened->valid());
  EXPECT_EQ(reopened->bitmap().words(), bits({2, 9}));
}

TEST_F(ChangeTrackerTest, ASecondBeginWithoutAnEndKeepsTheFirstOnesBits) {
  auto tracker = open();
  tracker->mark(kBlock, 1);
  tracker->begin_backup();
  tracker->mark(4 * kBlock, 1);
  EXPECT_EQ(tracker->begin_backup(), bits({1, 4}));
  tracker->end_backup(false, "");
  EXPECT_EQ(tracker->bitmap().words(), bits({1, 4}));
}

TEST_F(ChangeTrackerTest, ADiskChangedAfterItsBitmapWasSavedIsNotTrusted) {
  { std::ofstream(m_image).put('x'); }
  {
    auto tracker = open();
    ASSERT_NE(tracker, nullptr);
    tracker->end_backup(true, "R/S");  // a baseline: the bits are valid from here
  }
  EXPECT_TRUE(saved().valid);
  EXPECT_FALSE(image_newer_than_tracking(m_image, tracking_path(m_image)));
  // Written behind the bitmap's back (tracking off, restored over, edited offline).
  auto later = std::filesystem::last_write_time(tracking_path(m_image)) + std::chrono::seconds(2);
  std::filesystem::last_write_time(m_image, later);
  EXPECT_TRUE(image_newer_than_tracking(m_image, tracking_path(m_image)));
  auto tracker = open();
  ASSERT_NE(tracker, nullptr);
  EXPECT_FALSE(tracker->valid()) << "the next backup must read everything";
}

TEST_F(ChangeTrackerTest, DroppingTrackingRemovesTheBitmap) {
  { std::ofstream(m_image).put('x'); }
  { auto tracker = open(); }
  ASSERT_TRUE(std::filesystem::exists(tracking_path(m_image)));
  drop_tracking(m_image);
  EXPECT_FALSE(std::filesystem::exists(tracking_path(m_image)));
  drop_tracking(m_image);  // none: nothing happens
}

}  // namespace
}  // namespace haven::block
