#include "block/bitmap_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "base/sys.h"

namespace haven::block {
namespace {

constexpr uint64_t kDisk = 100 * 1024 * 1024;  // 1600 blocks of 64 KiB: 25 words
constexpr uint32_t kGranularity = 64 * 1024;

class BitmapFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/haven-cbt-test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    m_dir = dir;
    m_path = tracking_path(m_dir + "/disk.img");
  }
  void TearDown() override { std::system(("rm -rf " + m_dir).c_str()); }

  std::string m_dir, m_path;
};

TEST_F(BitmapFileTest, AFirstOpenIsInvalidAndMarksTheFileInUse) {
  auto state = open_tracking(m_path, kDisk, kGranularity);
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_FALSE(state->valid) << "no history: the next backup must read everything";
  EXPECT_EQ(state->words.size(), 25u);
  auto read = read_tracking(m_path);
  ASSERT_TRUE(read && *read);
  EXPECT_FALSE((*read)->valid);
}

TEST_F(BitmapFileTest, ACleanCloseKeepsTheBitsForTheNextRun) {
  auto state = open_tracking(m_path, kDisk, kGranularity);
  ASSERT_TRUE(state);
  state->valid = true;
  state->baseline = "repo-1/snapshot-7";
  state->words[3] = 0x8001;
  ASSERT_TRUE(close_tracking(m_path, *state));
  auto read = read_tracking(m_path);
  ASSERT_TRUE(read && *read);
  EXPECT_TRUE((*read)->valid);
  EXPECT_EQ((*read)->baseline, "repo-1/snapshot-7");
  EXPECT_EQ((*read)->words[3], 0x8001u);
  auto again = open_tracking(m_path, kDisk, kGranularity);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->valid);
  EXPECT_EQ(again->words[3], 0x8001u);
}

TEST_F(BitmapFileTest, AVmmThatDiedInvalidatesTheBitmap) {
  auto state = open_tracking(m_path, kDisk, kGranularity);
  ASSERT_TRUE(state);
  state->valid = true;
  ASSERT_TRUE(close_tracking(m_path, *state));
  ASSERT_TRUE(open_tracking(m_path, kDisk, kGranularity));  // a VMM runs... and dies
  auto read = read_tracking(m_path);
  ASSERT_TRUE(read && *read);
  EXPECT_FALSE((*read)->valid) << "still in use: its bits were only in the dead VMM";
  auto reopened = open_tracking(m_path, kDisk, kGranularity);
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(reopened->valid);
}

TEST_F(BitmapFileTest, ADiskThatChangedSizeStartsOver) {
  auto state = open_tracking(m_path, kDisk, kGranularity);
  ASSERT_TRUE(state);
  state->valid = true;
  ASSERT_TRUE(close_tracking(m_path, *state));
  auto grown = open_tracking(m_path, 2 * kDisk, kGranularity);
  ASSERT_TRUE(grown);
  EXPECT_FALSE(grown->valid);
  EXPECT_EQ(grown->words.size(), 50u);
}

TEST_F(BitmapFileTest, ACorruptFileIsNeverTrusted) {
  auto state = open_tracking(m_path, kDisk, kGranularity);
  ASSERT_TRUE(state);
  state->valid = true;
  ASSERT_TRUE(close_tracking(m_path, *state));
  auto bytes = sys::read_file(m_path, 1 << 20);
  ASSERT_TRUE(bytes);
  (*bytes)[120] ^= 1;  // a bit of the bitmap flips on disk
  std::ofstream(m_path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes->data()), static_cast<long>(bytes->size()));
  EXPECT_FALSE(read_tracking(m_path)) << "the checksum catches it";
  auto reopened = open_tracking(m_path, kDisk, kGranularity);
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(reopened->valid) << "a VMM starts over rather than trust it";
}

TEST_F(BitmapFileTest, NoFileReadsAsNothing) {
  auto read = read_tracking(m_path);
  ASSERT_TRUE(read);
  EXPECT_FALSE(read->has_value());
}

}  // namespace
}  // namespace haven::block
