#include "block/hydrating_image.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "base/sys.h"
#include "block/bitmap_file.h"
#include "unit/block/hydrating_image_fixture.h"

namespace haven::block::hydration_test {
namespace {

// The guest's I/O (prepare), the state file and opening.

TEST_F(HydratingImageTest, CreatesASparseImageAndAStateFileForItsSource) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image_bytes(), std::vector<uint8_t>(kDisk, 0));
  auto state = load_bitmap_file(HydratingImage::state_path(m_image));
  ASSERT_TRUE(state && *state);
  EXPECT_EQ((*state)->baseline, kSource);
  EXPECT_EQ((*state)->disk_bytes, kDisk);
  EXPECT_EQ((*state)->granularity, kGranularity);
  EXPECT_FALSE((*state)->valid);
  auto progress = image->progress();
  EXPECT_EQ(progress.total_blocks, kBlocks);
  EXPECT_EQ(progress.present_blocks, 0u);
  EXPECT_FALSE(progress.complete);
  EXPECT_FALSE(image->complete());
  EXPECT_FALSE(HydratingImage::is_complete(m_image));
}

TEST_F(HydratingImageTest, AReadFetchesAMissingBlockOnceAndTheImageKeepsIt) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(3 * kGranularity + 100, 10, false));
  EXPECT_EQ(source.fetches(3), 1);
  EXPECT_EQ(source.total_fetches(), 1);
  EXPECT_EQ(image_bytes(3 * kGranularity, kGranularity),
            source_bytes(3 * kGranularity, kGranularity));
  ASSERT_TRUE(image->prepare(3 * kGranularity, kGranularity, false));  // present now
  EXPECT_EQ(source.fetches(3), 1);
  auto progress = image->progress();
  EXPECT_EQ(progress.present_blocks, 1u);
  EXPECT_EQ(progress.fetched_bytes, kGranularity);
}

TEST_F(HydratingImageTest, AReadAcrossBlocksFetchesEachMissingOne) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(5 * kGranularity, 1, false));
  ASSERT_TRUE(image->prepare(4 * kGranularity + 4000, 2 * kGranularity, false));  // 4, 5, 6
  EXPECT_EQ(source.fetches(4), 1);
  EXPECT_EQ(source.fetches(5), 1);
  EXPECT_EQ(source.fetches(6), 1);
  EXPECT_EQ(source.total_fetches(), 3);
  EXPECT_EQ(image_bytes(4 * kGranularity, 3 * kGranularity),
            source_bytes(4 * kGranularity, 3 * kGranularity));
}

TEST_F(HydratingImageTest, AnOverwriteOfWholeBlocksFetchesNothing) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(guest_write(*image, 2 * kGranularity, 3 * kGranularity, 0xFC));
  EXPECT_EQ(source.total_fetches(), 0);
  EXPECT_EQ(image->progress().present_blocks, 3u);
  ASSERT_TRUE(image->prepare(2 * kGranularity, 3 * kGranularity, false));  // the guest reads
  EXPECT_EQ(source.total_fetches(), 0);
  EXPECT_EQ(image_bytes(2 * kGranularity, 3 * kGranularity),
            std::vector<uint8_t>(3 * kGranularity, 0xFC));
  EXPECT_EQ(image->progress().fetched_bytes, 0u);
}

TEST_F(HydratingImageTest, APartialOverwriteFetchesTheBlockFirst) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(guest_write(*image, 5 * kGranularity + 100, 200, 0xFD));
  EXPECT_EQ(source.fetches(5), 1);
  auto expected = source_bytes(5 * kGranularity, kGranularity);
  std::fill_n(expected.begin() + 100, 200, 0xFD);
  EXPECT_EQ(image_bytes(5 * kGranularity, kGranularity), expected);

  // Partial, whole, partial: only the ends are fetched.
  ASSERT_TRUE(guest_write(*image, 7 * kGranularity + 10, 2 * kGranularity, 0xFE));
  EXPECT_EQ(source.fetches(7), 1);
  EXPECT_EQ(source.fetches(8), 0);
  EXPECT_EQ(source.fetches(9), 1);
  expected = source_bytes(7 * kGranularity, 3 * kGranularity);
  std::fill_n(expected.begin() + 10, 2 * kGranularity, 0xFE);
  EXPECT_EQ(image_bytes(7 * kGranularity, 3 * kGranularity), expected);
  EXPECT_EQ(source.total_fetches(), 3);
}

TEST_F(HydratingImageTest, TheShortLastBlockIsFetchedAtItsSizeAndOverwrittenWhole) {
  FakeSource source(kDisk);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    ASSERT_TRUE(image->prepare(kDisk - 5, 5, false));  // FakeSource checks it asks for kTail
    EXPECT_EQ(source.fetches(16), 1);
    EXPECT_EQ(image_bytes(16 * kGranularity, kTail), source_bytes(16 * kGranularity, kTail));
    EXPECT_EQ(image->progress().fetched_bytes, kTail);
    ASSERT_TRUE(image->prepare(kDisk, 100, false));  // past the end: nothing to do
    EXPECT_EQ(source.total_fetches(), 1);
  }
  ASSERT_EQ(::unlink(m_image.c_str()), 0);
  ASSERT_EQ(::unlink(HydratingImage::state_path(m_image).c_str()), 0);
  FakeSource other(kDisk);
  auto image = open(other);
  ASSERT_NE(image, nullptr);
  // Up to the disk's end covers the last block whole, even when the request runs past it.
  ASSERT_TRUE(image->prepare(16 * kGranularity, kGranularity, true));
  EXPECT_EQ(other.total_fetches(), 0);
  EXPECT_EQ(image->progress().present_blocks, 1u);
}

TEST_F(HydratingImageTest, AFailedFetchFailsThePrepareAndMarksNothing) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  source.fail({4});
  auto prepared = image->prepare(4 * kGranularity + 8, 16, false);
  ASSERT_FALSE(prepared);
  EXPECT_NE(prepared.error().message().find("chunk unreadable"), std::string::npos)
      << prepared.error().message();
  EXPECT_EQ(image->progress().present_blocks, 0u);
  source.fail({});
  ASSERT_TRUE(image->prepare(4 * kGranularity + 8, 16, false));  // fetched again
  EXPECT_EQ(source.fetches(4), 2);
  EXPECT_EQ(image_bytes(4 * kGranularity, kGranularity),
            source_bytes(4 * kGranularity, kGranularity));
  EXPECT_EQ(image->progress().present_blocks, 1u);
}

TEST_F(HydratingImageTest, AFailedFetchInAnOverwriteLeavesItsWholeBlocksMissing) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  source.fail({3});
  // Blocks 1 and 2 whole, block 3 in part: the write is never made, so 1 and 2 must stay
  // missing, or they would read as zeros instead of the backup's data.
  ASSERT_FALSE(image->prepare(kGranularity, 2 * kGranularity + 100, true));
  EXPECT_EQ(image->progress().present_blocks, 0u);
  source.fail({});
  ASSERT_TRUE(image->prepare(kGranularity, 3 * kGranularity, false));
  EXPECT_EQ(source.fetches(1), 1);
  EXPECT_EQ(source.fetches(2), 1);
  EXPECT_EQ(image_bytes(kGranularity, 3 * kGranularity),
            source_bytes(kGranularity, 3 * kGranularity));
}

TEST_F(HydratingImageTest, ABlockReplacedByAWriteStillInFlightIsNotPersisted) {
  FakeSource source(kDisk);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    ASSERT_TRUE(image->prepare(kGranularity, kGranularity, true));  // the write is in flight
    ASSERT_TRUE(image->persist());
    auto state = load_bitmap_file(HydratingImage::state_path(m_image));
    ASSERT_TRUE(state && *state);
    EXPECT_EQ((*state)->words, std::vector<uint64_t>{0});  // a crash now: fetched again
    image->settle(kGranularity, kGranularity);             // the write landed
    ASSERT_TRUE(image->persist());
    state = load_bitmap_file(HydratingImage::state_path(m_image));
    ASSERT_TRUE(state && *state);
    EXPECT_EQ((*state)->words, std::vector<uint64_t>{0b10});
  }
  EXPECT_EQ(source.total_fetches(), 0);
}

TEST_F(HydratingImageTest, ABlockSettlesWithTheLastWriteToItInFlight) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  auto listed = [&] {
    EXPECT_TRUE(image->persist());
    auto state = load_bitmap_file(HydratingImage::state_path(m_image));
    return state && *state ? (*state)->words : std::vector<uint64_t>{};
  };
  // W1 replaces block 1 whole; W2 writes part of it while W1 is still in flight.
  ASSERT_TRUE(image->prepare(kGranularity, kGranularity, true));
  ASSERT_TRUE(image->prepare(kGranularity + 512, 512, true));
  image->settle(kGranularity + 512, 512, true);  // W2 landed
  EXPECT_EQ(listed(), std::vector<uint64_t>{0}) << "W1 is still in flight";
  image->settle(kGranularity, kGranularity, false);  // W1 failed
  EXPECT_EQ(image->progress().present_blocks, 1u) << "W2's data, acknowledged, stays";
  EXPECT_EQ(listed(), std::vector<uint64_t>{0b10});
  // Both writes to block 3 fail: it is missing again, and the backup's data comes back.
  ASSERT_TRUE(image->prepare(3 * kGranularity, kGranularity, true));
  ASSERT_TRUE(image->prepare(3 * kGranularity, 100, true));
  image->settle(3 * kGranularity, 100, false);
  image->settle(3 * kGranularity, kGranularity, false);
  EXPECT_EQ(image->progress().present_blocks, 1u);
  ASSERT_TRUE(image->prepare(3 * kGranularity, 1, false));
  EXPECT_EQ(source.fetches(3), 1);
  EXPECT_EQ(source.fetches(1), 0);
}

TEST_F(HydratingImageTest, AReadOfABlockAWriteReplacesDoesNotHoldItUnsettled) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(kGranularity, kGranularity, true));  // W replaces block 1
  EXPECT_TRUE(image->try_prepare(kGranularity, 512, false)) << "a read of it needs no fetch";
  ASSERT_TRUE(image->prepare(kGranularity + 512, 512, false));
  image->settle(kGranularity, kGranularity, true);  // W landed; the reads settle nothing
  ASSERT_TRUE(image->persist());
  auto state = load_bitmap_file(HydratingImage::state_path(m_image));
  ASSERT_TRUE(state && *state);
  EXPECT_EQ((*state)->words, std::vector<uint64_t>{0b10}) << "block 1 is listed as present";
  EXPECT_EQ(source.total_fetches(), 0);
}

TEST_F(HydratingImageTest, TryPrepareTakesOnlyWhatNeedsNoFetchAndChangesNothingOtherwise) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  EXPECT_FALSE(image->try_prepare(0, 512, false)) << "block 0 is missing";
  EXPECT_FALSE(image->try_prepare(512, kGranularity, true)) << "a partial write of two blocks";
  EXPECT_EQ(image->progress().present_blocks, 0u);
  EXPECT_TRUE(image->try_prepare(2 * kGranularity, 2 * kGranularity, true)) << "two whole blocks";
  EXPECT_EQ(image->progress().present_blocks, 2u);
  EXPECT_TRUE(image->try_prepare(2 * kGranularity + 100, 10, false));
  EXPECT_EQ(source.total_fetches(), 0);
}

TEST_F(HydratingImageTest, ABlockMissingAgainWhileAnotherIsFetchedIsFilledBeforeTheWrite) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(kGranularity, kGranularity, true));  // W1 replaces block 1
  // W2 writes the end of block 1 and the start of block 2: block 2 is fetched, and meanwhile
  // W1 fails, so block 1 is missing again by the time the fetch ends.
  source.on_fetch([&](uint64_t index) {
    if (index == 2) image->settle(kGranularity, kGranularity, false);
  });
  ASSERT_TRUE(image->prepare(2 * kGranularity - 512, 1024, true));
  EXPECT_EQ(source.fetches(2), 1);
  EXPECT_EQ(source.fetches(1), 1) << "block 1 was filled from the backup before W2 lands";
  EXPECT_EQ(image_bytes(kGranularity, 512), source_bytes(kGranularity, 512));
  EXPECT_EQ(image->progress().present_blocks, 2u);
}

TEST_F(HydratingImageTest, PresentBlocksSurviveAReopenWithTheSameSource) {
  FakeSource source(kDisk);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    ASSERT_TRUE(image->prepare(2 * kGranularity, 1, false));
    ASSERT_TRUE(guest_write(*image, 4 * kGranularity + 10, 10, 0xFC));
    ASSERT_TRUE(guest_write(*image, 6 * kGranularity, kGranularity, 0xFD));
    ASSERT_TRUE(image->persist());
    auto state = load_bitmap_file(HydratingImage::state_path(m_image));
    ASSERT_TRUE(state && *state);
    EXPECT_EQ((*state)->words, std::vector<uint64_t>{0b1010100});
    EXPECT_FALSE((*state)->valid);
    EXPECT_EQ((*state)->baseline, kSource);
    ASSERT_TRUE(image->persist());  // nothing changed: a no-op
  }
  EXPECT_EQ(source.total_fetches(), 2);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->progress().present_blocks, 3u);
  ASSERT_TRUE(image->prepare(2 * kGranularity, 5 * kGranularity, false));  // 2..6
  EXPECT_EQ(source.fetches(2), 1);
  EXPECT_EQ(source.fetches(3), 1);
  EXPECT_EQ(source.fetches(4), 1);
  EXPECT_EQ(source.fetches(5), 1);
  EXPECT_EQ(source.fetches(6), 0);
  EXPECT_EQ(source.total_fetches(), 4);
  auto expected = source_bytes(2 * kGranularity, 5 * kGranularity);
  std::fill_n(expected.begin() + 2 * kGranularity + 10, 10, 0xFC);
  std::fill_n(expected.begin() + 4 * kGranularity, kGranularity, 0xFD);
  EXPECT_EQ(image_bytes(2 * kGranularity, 5 * kGranularity), expected);
}

TEST_F(HydratingImageTest, ClosingPersistsWhatIsPresent) {
  FakeSource source(kDisk);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    ASSERT_TRUE(image->prepare(kGranularity, 1, false));
  }
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(kGranularity, 1, false));
  EXPECT_EQ(source.fetches(1), 1);
}

TEST_F(HydratingImageTest, AStateFileForAnotherRestoreIsRefused) {
  FakeSource source(kDisk);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    ASSERT_TRUE(image->prepare(0, 1, false));
  }
  auto other = options();
  other.source = "repo-1/snapshot-8";
  auto refused = HydratingImage::open(other, source.fetch());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("another restore"), std::string::npos)
      << refused.error().message();
  other = options();
  other.granularity = 2 * kGranularity;
  EXPECT_FALSE(HydratingImage::open(other, source.fetch()));
  EXPECT_FALSE(HydratingImage::open(options(kDisk + kGranularity), source.fetch()));
  // Still the first restore's.
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->progress().present_blocks, 1u);
}

TEST_F(HydratingImageTest, AnImageOfTheWrongSizeIsRefusedOnReopen) {
  FakeSource source(kDisk);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    ASSERT_TRUE(image->prepare(0, 1, false));
  }
  ASSERT_EQ(::truncate(m_image.c_str(), kDisk / 2), 0);
  auto half = HydratingImage::open(options(), source.fetch());
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message().find("has " + std::to_string(kDisk / 2) + " bytes"),
            std::string::npos)
      << half.error().message();
  // Cut to nothing: its fetched block would read as zeros, so it is refused too, not grown.
  ASSERT_EQ(::truncate(m_image.c_str(), 0), 0);
  auto empty = HydratingImage::open(options(), source.fetch());
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("lists 1 blocks as fetched"), std::string::npos)
      << empty.error().message();
}

TEST_F(HydratingImageTest, ABadBlockSizeOrAnEmptyDiskIsRefused) {
  FakeSource source(kDisk);
  for (uint32_t granularity : {0u, 512u, 4096u * 3}) {
    auto bad = options();
    bad.granularity = granularity;
    auto refused = HydratingImage::open(bad, source.fetch());
    ASSERT_FALSE(refused) << granularity;
    EXPECT_NE(refused.error().message().find("power of two"), std::string::npos);
  }
  auto empty = HydratingImage::open(options(0), source.fetch());
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("empty disk"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(m_image)) << "nothing made for a refused open";
}

TEST_F(HydratingImageTest, AnImageWithoutAStateFileIsNeverOverwritten) {
  {
    auto fd = sys::open(m_image, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd);
    std::vector<uint8_t> data(kDisk, 0x77);
    ASSERT_TRUE(sys::write_at(fd->get(), data, 0));
  }
  FakeSource source(kDisk);
  auto refused = HydratingImage::open(options(), source.fetch());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("refusing to overwrite"), std::string::npos)
      << refused.error().message();
  EXPECT_FALSE(state_file_exists());
  EXPECT_EQ(image_bytes(), std::vector<uint8_t>(kDisk, 0x77));
}

TEST_F(HydratingImageTest, AStateFileWhoseImageIsGoneStartsOver) {
  FakeSource source(kDisk);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    ASSERT_TRUE(image->prepare(3 * kGranularity, 1, false));
  }
  ASSERT_EQ(::unlink(m_image.c_str()), 0);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    EXPECT_EQ(image->progress().present_blocks, 0u);
  }
  // Not even a crash right after the reopen may leave block 3 listed.
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(image->prepare(3 * kGranularity, 1, false));
  EXPECT_EQ(source.fetches(3), 2);
  EXPECT_EQ(image_bytes(3 * kGranularity, kGranularity),
            source_bytes(3 * kGranularity, kGranularity));
}

TEST_F(HydratingImageTest, AThrowawayImageStartsEmptyAndKeepsNoState) {
  {
    auto fd = sys::open(m_image, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd);
    std::vector<uint8_t> data(2 * kDisk, 0x77);  // an earlier run's, of another size even
    ASSERT_TRUE(sys::write_at(fd->get(), data, 0));
  }
  FakeSource source(kDisk);
  bool hydrated = false;
  {
    auto throwaway = options();
    throwaway.persistent = false;
    auto image = open(source, throwaway);
    ASSERT_NE(image, nullptr);
    EXPECT_EQ(image_bytes(), std::vector<uint8_t>(kDisk, 0));
    ASSERT_TRUE(image->prepare(kGranularity, 1, false));  // the guest's reads still fetch
    EXPECT_EQ(source.fetches(1), 1);
    EXPECT_EQ(image_bytes(kGranularity, kGranularity), source_bytes(kGranularity, kGranularity));
    ASSERT_TRUE(image->persist());
    image->start_hydration([&](const HydrationProgress&) { hydrated = true; });
  }  // a background pass would have been joined here, and `done` called
  EXPECT_FALSE(hydrated);
  EXPECT_EQ(source.total_fetches(), 1);
  EXPECT_FALSE(state_file_exists());
}

}  // namespace
}  // namespace haven::block::hydration_test
