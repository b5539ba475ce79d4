#include "block/hydrating_image.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/sys.h"
#include "block/bitmap_file.h"
#include "unit/block/hydrating_image_fixture.h"

namespace haven::block::hydration_test {
namespace {

// The background pass, alone and beside the guest's I/O.

TEST_F(HydratingImageTest, TheBackgroundPassFillsAllButWhatTheGuestWrote) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  auto expected = source.bytes();
  ASSERT_TRUE(guest_write(*image, 2 * kGranularity, kGranularity, 0xFC));  // whole
  std::fill_n(expected.begin() + 2 * kGranularity, kGranularity, 0xFC);
  ASSERT_TRUE(guest_write(*image, 9 * kGranularity + 50, 300, 0xFD));  // partial
  std::fill_n(expected.begin() + 9 * kGranularity + 50, 300, 0xFD);
  ASSERT_TRUE(guest_write(*image, 16 * kGranularity, kTail, 0xFE));  // the short last block
  std::fill_n(expected.begin() + 16 * kGranularity, kTail, 0xFE);

  auto progress = hydrate(*image);
  EXPECT_TRUE(progress.complete);
  EXPECT_EQ(progress.present_blocks, kBlocks);
  EXPECT_EQ(progress.total_blocks, kBlocks);
  EXPECT_EQ(progress.failed_blocks, 0u);
  EXPECT_EQ(progress.fetched_bytes, kDisk - kGranularity - kTail);  // 2 and 16 never fetched
  EXPECT_TRUE(image->complete());
  EXPECT_TRUE(HydratingImage::is_complete(m_image));
  EXPECT_EQ(image_bytes(), expected);
  for (uint64_t index = 0; index < kBlocks; ++index)
    EXPECT_EQ(source.fetches(index), index == 2 || index == 16 ? 0 : 1) << "block " << index;

  // Complete: a plain image, the source is not read any more.
  int fetches = source.total_fetches();
  ASSERT_TRUE(image->prepare(0, kDisk, false));
  EXPECT_EQ(source.total_fetches(), fetches);
}

TEST_F(HydratingImageTest, ABlockTheGuestWritesWhileTheBackgroundFetchesItKeepsTheGuestsData) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  // The background pass fetches outside the image's lock; the guest overwrites block 5 whole
  // right then (the test thread is waiting, so only the background pass fetches).
  Result<void> written;
  source.on_fetch([&](uint64_t index) {
    if (index == 5) written = guest_write(*image, 5 * kGranularity, kGranularity, 0xFC);
  });
  auto progress = hydrate(*image);
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_TRUE(progress.complete);
  EXPECT_EQ(source.fetches(5), 1);
  EXPECT_EQ(progress.fetched_bytes, kDisk - kGranularity) << "block 5's fetch was dropped";
  auto expected = source.bytes();
  std::fill_n(expected.begin() + 5 * kGranularity, kGranularity, 0xFC);
  EXPECT_EQ(image_bytes(), expected);
}

TEST_F(HydratingImageTest, ProgressAnswersWhileAGuestReadWaitsForItsFetch) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  // The first fetch can wait long (the repository still opening, a slow link): `haven vm
  // show` asks for the progress meanwhile, from another thread.
  std::latch fetching(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  source.on_fetch([&](uint64_t) {
    fetching.count_down();
    released.wait();
  });
  Result<void> prepared;
  std::jthread guest([&] { prepared = image->prepare(2 * kGranularity, 512, false); });
  fetching.wait();
  auto asked = std::async(std::launch::async, [&] { return image->progress(); });
  if (asked.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fputs("progress() waited for the guest's fetch\n", stderr);
    std::abort();
  }
  EXPECT_EQ(asked.get().present_blocks, 0u);
  release.set_value();
  guest.join();
  ASSERT_TRUE(prepared) << prepared.error().message();
  EXPECT_EQ(image->progress().present_blocks, 1u);
  EXPECT_EQ(image_bytes(2 * kGranularity, kGranularity),
            source_bytes(2 * kGranularity, kGranularity));
}

TEST_F(HydratingImageTest, GuestWritesAndReadsDuringTheBackgroundPass) {
  constexpr uint64_t kBigDisk = 256 * kGranularity + kTail;
  FakeSource source(kBigDisk);
  auto image = open(source, options(kBigDisk));
  ASSERT_NE(image, nullptr);
  // Both begin together: the background pass's first fetch (block 0, which the guest leaves
  // alone) waits for the guest to be ready.
  std::latch together(2);
  std::atomic<bool> arrived{false};
  source.on_fetch([&](uint64_t index) {
    if (index == 0 && !arrived.exchange(true)) together.arrive_and_wait();
  });
  auto ended = start(*image);

  // The guest runs alone on its own copy of what the disk must hold.
  auto expected = source.bytes();
  std::vector<std::string> errors;
  {
    std::jthread guest([&] {
      std::mt19937_64 random(7);
      int fd = -1;
      auto opened = sys::open(m_image, O_RDWR | O_CLOEXEC);
      if (opened) fd = opened->get();
      together.arrive_and_wait();
      for (int i = 0; i < 200 && fd >= 0; ++i) {
        uint64_t offset = kGranularity + random() % (kBigDisk - kGranularity);
        uint64_t length = std::min<uint64_t>(1 + random() % (3 * kGranularity), kBigDisk - offset);
        auto value = static_cast<uint8_t>(252 + i % 4);
        if (auto prepared = image->prepare(offset, length, true); !prepared) {
          errors.push_back(prepared.error().message());
          break;
        }
        std::vector<uint8_t> data(length, value);
        if (!sys::write_at(fd, data, offset)) errors.push_back("write");
        image->settle(offset, length);
        std::fill_n(expected.begin() + static_cast<std::ptrdiff_t>(offset), length, value);

        // And reads somewhere: the source's data, or what it wrote itself.
        offset = random() % kBigDisk;
        length = std::min<uint64_t>(1 + random() % (2 * kGranularity), kBigDisk - offset);
        if (auto prepared = image->prepare(offset, length, false); !prepared) {
          errors.push_back(prepared.error().message());
          break;
        }
        std::vector<uint8_t> read(length);
        if (!sys::read_at(fd, read, offset)) errors.push_back("read");
        if (!std::equal(read.begin(), read.end(),
                        expected.begin() + static_cast<std::ptrdiff_t>(offset)))
          errors.push_back("read " + std::to_string(length) + " at " + std::to_string(offset));
      }
    });
  }
  auto progress = wait(std::move(ended));
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, the first: " << errors.front();
  EXPECT_EQ(progress.failed_blocks, 0u);
  EXPECT_EQ(image->progress().present_blocks, image->progress().total_blocks);
  // The pass's last persist may have come while a guest write was still in flight (then
  // left out): complete once a persist lists everything, as the guest's next flush does.
  ASSERT_TRUE(image->persist());
  EXPECT_TRUE(image->complete());
  EXPECT_TRUE(HydratingImage::is_complete(m_image));
  EXPECT_TRUE(image_bytes() == expected) << "the image differs from the source + guest writes";
}

TEST_F(HydratingImageTest, BlocksTheBackgroundPassCouldNotFetchAreCountedAndLeftMissing) {
  FakeSource source(kDisk);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  source.fail({2, 9});
  auto progress = hydrate(*image);
  EXPECT_EQ(progress.failed_blocks, 2u);
  EXPECT_EQ(progress.present_blocks, kBlocks - 2);
  EXPECT_FALSE(progress.complete);
  EXPECT_FALSE(image->complete());
  EXPECT_EQ(image->progress().failed_blocks, 2u);
  EXPECT_FALSE(HydratingImage::is_complete(m_image));
  auto state = load_bitmap_file(HydratingImage::state_path(m_image));
  ASSERT_TRUE(state && *state);
  EXPECT_EQ((*state)->words, std::vector<uint64_t>{0x1FFFF & ~uint64_t{(1 << 2) | (1 << 9)}});

  // The guest's reads still fetch them; with every block present the state says complete.
  source.fail({});
  ASSERT_TRUE(image->prepare(2 * kGranularity, 1, false));
  ASSERT_TRUE(image->prepare(9 * kGranularity, 1, false));
  EXPECT_EQ(image->progress().present_blocks, kBlocks);
  EXPECT_FALSE(image->progress().complete) << "complete once a persist lists every block";
  ASSERT_TRUE(image->persist());
  EXPECT_TRUE(image->progress().complete);
  EXPECT_TRUE(image->complete());
  EXPECT_TRUE(HydratingImage::is_complete(m_image));
  EXPECT_EQ(image_bytes(), source.bytes());
}

TEST_F(HydratingImageTest, ACompleteImageNeverReadsItsSource) {
  FakeSource source(kDisk);
  {
    auto image = open(source);
    ASSERT_NE(image, nullptr);
    EXPECT_TRUE(hydrate(*image).complete);
  }
  FakeSource broken(kDisk);
  broken.fail({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  auto image = open(broken);
  ASSERT_NE(image, nullptr);
  EXPECT_TRUE(image->complete());
  EXPECT_TRUE(image->progress().complete);
  ASSERT_TRUE(image->prepare(0, kDisk, false));
  ASSERT_TRUE(image->prepare(100, 10, true));
  EXPECT_EQ(broken.total_fetches(), 0);
  EXPECT_EQ(image_bytes(), source.bytes());
}

TEST_F(HydratingImageTest, APausedFillFetchesNothingUntilResumed) {
  FakeSource source(kDisk);
  // The first fetch of a block other than the guest's: the background pass's.
  std::promise<uint64_t> background;
  std::atomic<bool> background_seen = false;
  source.on_fetch([&](uint64_t index) {
    if (index != 3 && !background_seen.exchange(true)) background.set_value(index);
  });
  auto opts = options();
  opts.fill_paused = true;
  auto image = open(source, opts);
  ASSERT_NE(image, nullptr);
  auto ended = start(*image);
  ASSERT_TRUE(image->prepare(3 * kGranularity, 10, false));  // the guest's reads still fetch
  // A pass that ignored the pause would fetch block 0 at once: give it time to show.
  EXPECT_EQ(background.get_future().wait_for(std::chrono::milliseconds(200)),
            std::future_status::timeout)
      << "the paused pass fetched";
  EXPECT_EQ(source.total_fetches(), 1);
  EXPECT_TRUE(image->progress().paused);
  EXPECT_EQ(image->progress().present_blocks, 1u);
  image->pause_fill(false);
  auto progress = wait(std::move(ended));
  EXPECT_TRUE(progress.complete);
  EXPECT_FALSE(progress.paused);
  EXPECT_EQ(source.fetches(3), 1);
  EXPECT_TRUE(image_bytes() == source.bytes());
}

TEST_F(HydratingImageTest, ZeroBlocksStayHolesInTheFilledImage) {
  FakeSource source(kDisk);
  for (uint64_t index = 0; index < kDisk / kGranularity; ++index)
    if (index != 1) source.zero(index);
  auto image = open(source);
  ASSERT_NE(image, nullptr);
  EXPECT_TRUE(hydrate(*image).complete);
  EXPECT_TRUE(image_bytes() == source.bytes());
  struct stat st {};
  ASSERT_EQ(::stat(m_image.c_str(), &st), 0);
  // One block of data written: the zeros were not.
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, 2 * kGranularity);
}

}  // namespace
}  // namespace haven::block::hydration_test
