// HydratingImage when the disk under it fails its syncs, and over bytes a write left behind:
// no block is listed as present before it is durable, and a block of the backup's zeros
// reads as zeros whatever an unsettled or failed write left in the image.

#include <sys/stat.h>

#include <atomic>

#include "unit/block/hydrating_image_fixture.h"

namespace haven::block::hydration_test {
namespace {

// Which blocks IMAGE.hydration lists as present, as saved on disk.
std::vector<uint64_t> saved_present(const std::string& image) {
  std::vector<uint64_t> present;
  auto state = HydratingImage::saved_state(image);
  if (!state) return present;
  for (uint64_t index = 0; index < kBlocks; ++index)
    if (state->words[index / 64] >> (index % 64) & 1) present.push_back(index);
  return present;
}

class HydratingImageDurabilityTest : public HydratingImageTest {
 protected:
  // Options whose syncs fail while m_sync_fails is set (as fdatasync does on a failing disk).
  HydratingImage::Options failing_options() {
    auto opts = options();
    opts.sync_data = [this](int fd, const std::string& path) -> Result<void> {
      ++m_syncs;
      if (m_sync_fails) return make_error("fdatasync {}: Input/output error", path);
      return sys::sync_data(fd, path);
    };
    return opts;
  }
  uint64_t allocated_bytes() const {
    struct stat st {};
    EXPECT_EQ(::stat(m_image.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  std::atomic<bool> m_sync_fails{false};
  std::atomic<int> m_syncs{0};
};

TEST_F(HydratingImageDurabilityTest, AFailedSyncListsNothingUntilASyncSucceeds) {
  FakeSource source(kDisk);
  auto image = open(source, failing_options());
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(2 * kGranularity, 1, false));                 // fetched and written
  ASSERT_TRUE(guest_write(*image, 5 * kGranularity, kGranularity, 0xFC));  // replaced whole
  m_sync_fails = true;
  auto saved = image->persist();
  ASSERT_FALSE(saved);
  EXPECT_NE(saved.error().message().find("Input/output error"), std::string::npos)
      << saved.error().message();
  EXPECT_TRUE(saved_present(m_image).empty());
  EXPECT_GE(m_syncs.load(), 1);
  // Tried again at the next flush, even though nothing changed since.
  m_sync_fails = false;
  ASSERT_TRUE(image->persist());
  EXPECT_EQ(saved_present(m_image), (std::vector<uint64_t>{2, 5}));
}

TEST_F(HydratingImageDurabilityTest, ABackgroundPassWhoseSyncsFailNeverCallsTheImageComplete) {
  FakeSource source(kDisk);
  {
    auto image = open(source, failing_options());
    ASSERT_NE(image, nullptr);
    m_sync_fails = true;
    auto progress = hydrate(*image);
    EXPECT_EQ(progress.present_blocks, kBlocks);  // every block written...
    EXPECT_FALSE(progress.complete);              // ...but none of it known to be on disk
    EXPECT_FALSE(image->complete());
    EXPECT_TRUE(saved_present(m_image).empty());
  }  // the close's persist fails too: the state still lists nothing
  EXPECT_TRUE(HydratingImage::is_restoring(m_image));
  EXPECT_FALSE(HydratingImage::is_complete(m_image));
  // A reopen trusts nothing that was not made durable: every block is fetched again.
  m_sync_fails = false;
  auto image = open(source, failing_options());
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->progress().present_blocks, 0u);
  EXPECT_TRUE(hydrate(*image).complete);
  for (uint64_t index = 0; index < kBlocks; ++index) EXPECT_EQ(source.fetches(index), 2) << index;
  EXPECT_TRUE(image_bytes() == source.bytes());
  EXPECT_TRUE(HydratingImage::is_complete(m_image));
}

// A whole-block write in flight when the VMM died: its block is not listed (it settled
// never), but part of its data is in the image. The backup's block there is zeros.
TEST_F(HydratingImageDurabilityTest, ZeroBlocksOverAnUnsettledWriteReadAsZerosOnReopen) {
  FakeSource source(kDisk);
  source.zero(4);
  source.zero(6);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    for (uint64_t index : {4, 6}) {
      ASSERT_TRUE(image->prepare(index * kGranularity, kGranularity, true));
      auto fd = sys::open(m_image, O_WRONLY | O_CLOEXEC);
      ASSERT_TRUE(fd);
      std::vector<uint8_t> half(kGranularity / 2, 0xFD);
      ASSERT_TRUE(sys::write_at(fd->get(), half, index * kGranularity));
    }  // never settled: the close leaves blocks 4 and 6 out
  }
  EXPECT_TRUE(saved_present(m_image).empty());
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  // Block 4 read by the guest (fetched on demand), block 6 filled by the background pass:
  // both read as the backup's zeros, not as half a write nobody completed.
  ASSERT_TRUE(image->prepare(4 * kGranularity, 1, false));
  EXPECT_EQ(image_bytes(4 * kGranularity, kGranularity), std::vector<uint8_t>(kGranularity, 0));
  EXPECT_TRUE(hydrate(*image).complete);
  EXPECT_TRUE(image_bytes() == source.bytes());
}

TEST_F(HydratingImageDurabilityTest, AZeroBlockAFailedWriteTouchedReadsAsZeros) {
  FakeSource source(kDisk);
  source.zero(3);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(3 * kGranularity, kGranularity, true));
  {
    auto fd = sys::open(m_image, O_WRONLY | O_CLOEXEC);
    ASSERT_TRUE(fd);
    std::vector<uint8_t> part(512, 0xFE);  // what landed of a write that then failed
    ASSERT_TRUE(sys::write_at(fd->get(), part, 3 * kGranularity));
  }
  image->settle(3 * kGranularity, kGranularity, false);  // missing again: fetched at next touch
  EXPECT_TRUE(hydrate(*image).complete);
  EXPECT_TRUE(image_bytes() == source.bytes());
}

TEST_F(HydratingImageDurabilityTest, ZeroBlocksFetchedOnDemandStayHoles) {
  FakeSource source(kDisk);
  for (uint64_t index = 0; index < kBlocks; ++index) source.zero(index);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(0, kDisk, false));  // the guest reads the whole disk
  EXPECT_TRUE(image_bytes() == source.bytes());
  EXPECT_EQ(allocated_bytes(), 0u);
}

}  // namespace
}  // namespace haven::block::hydration_test
