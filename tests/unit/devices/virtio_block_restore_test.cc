// The virtio-blk device's instant-restore and backup-view hooks, driven through the queue.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "block/hydrating_image.h"
#include "block/point_in_time.h"
#include "virtio_block_fixture.h"

namespace haven::devices::virtio {
namespace {

using block_test::BlockTest;
using block_test::kData;
using block_test::kDiskBytes;
using block_test::pattern;
using memory::GuestAddr;

constexpr uint32_t kGranularity = 4096;  // the restore's block
constexpr uint64_t kRestoreBlocks = kDiskBytes / kGranularity;
constexpr uint32_t kCbtBlock = block::DirtyBitmap::kDefaultGranularity;
constexpr uint64_t kCbtBlocks = kDiskBytes / kCbtBlock;
constexpr uint64_t kSectorsPerCbtBlock = kCbtBlock / Block::kSectorSize;

// The backup's bytes: never those of pattern() at the same offset, never 0 (a sparse image).
uint8_t backup_byte(uint64_t offset) {
  return static_cast<uint8_t>(offset % 251 + 1);
}
std::vector<uint8_t> backup_bytes(uint64_t offset, uint64_t length) {
  std::vector<uint8_t> bytes(length);
  for (uint64_t i = 0; i < length; ++i) bytes[i] = backup_byte(offset + i);
  return bytes;
}
std::vector<uint8_t> pattern_bytes(uint64_t offset, uint64_t length) {
  std::vector<uint8_t> bytes(length);
  for (uint64_t i = 0; i < length; ++i) bytes[i] = pattern(offset + i);
  return bytes;
}

// The backup being restored, in memory: counts fetches, fails the blocks it is told to, and
// holds a fetch of the block it is told to until let go (a slow source).
class FakeBackup {
 public:
  block::HydratingImage::Fetch fetch() {
    return [this](uint64_t index, std::span<uint8_t> data) -> Result<void> {
      std::unique_lock lock(m_mutex);
      ++m_fetches;
      if (m_held && *m_held == index) {
        m_holding = true;
        m_changed.notify_all();
        m_changed.wait(lock, [&] { return !m_held; });
        m_holding = false;
      }
      if (m_failing.contains(index)) return make_error("block {}: chunk unreadable", index);
      auto bytes = backup_bytes(index * kGranularity, data.size());
      std::copy(bytes.begin(), bytes.end(), data.begin());
      return {};
    };
  }
  void fail(std::set<uint64_t> blocks) {
    std::lock_guard lock(m_mutex);
    m_failing = std::move(blocks);
  }
  int fetches() {
    std::lock_guard lock(m_mutex);
    return m_fetches;
  }
  void hold(uint64_t index) {
    std::lock_guard lock(m_mutex);
    m_held = index;
  }
  // Until a fetch of the held block waits (10 s at most, a bound, not a synchronization).
  bool wait_holding() {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, std::chrono::seconds(10), [&] { return m_holding; });
  }
  void let_go() {
    std::lock_guard lock(m_mutex);
    m_held.reset();
    m_changed.notify_all();
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::optional<uint64_t> m_held;
  bool m_holding = false;
  std::set<uint64_t> m_failing;
  int m_fetches = 0;
};

class BlockRestoreTest : public BlockTest {
 protected:
  void TearDown() override {
    m_backup.let_go();      // a fetch a failed test still holds would hold the reset up
    BlockTest::TearDown();  // the device (and its image's fetch of m_backup) goes first
    ::unlink(block::HydratingImage::state_path(m_path).c_str());
    ::unlink(state_path().c_str());
    ::unlink(data_path().c_str());
  }

  // m_path becomes an image restored from m_backup, nothing of it present yet.
  void open_restoring(bool persistent) {
    ASSERT_EQ(::unlink(m_path.c_str()), 0);
    block::HydratingImage::Options options{.image = m_path,
                                           .disk_bytes = kDiskBytes,
                                           .granularity = kGranularity,
                                           .source = "repo/snapshot-1",
                                           .persistent = persistent};
    auto lazy = block::HydratingImage::open(options, m_backup.fetch());
    ASSERT_TRUE(lazy) << lazy.error().message();
    open(false, false, std::move(*lazy));
  }

  void write_guest(uint64_t sector, uint32_t length, uint8_t value) {
    ASSERT_TRUE(m_memory->fill(GuestAddr(kData), length, value));
    EXPECT_EQ(run(Block::kTypeOut, sector, {{kData, length, false}}), Block::kStatusOk);
  }
  std::vector<uint8_t> read_guest(uint64_t sector, uint32_t length) {
    EXPECT_TRUE(m_memory->fill(GuestAddr(kData), length, 0xcc));
    EXPECT_EQ(run(Block::kTypeIn, sector, {{kData, length, true}}), Block::kStatusOk);
    return guest_bytes(kData, length);
  }

  // What the VMM does around a backup's beginning and end: the device is paused.
  Result<Block::BackupView> begin(const std::string& baseline, uint32_t granularity = 0) {
    m_block->pause();
    auto view = m_block->begin_backup(state_path(), data_path(), baseline, granularity);
    EXPECT_TRUE(m_block->resume());
    return view;
  }
  void end(bool committed, const std::string& baseline) {
    m_block->pause();
    m_block->end_backup(committed, baseline);
    EXPECT_TRUE(m_block->resume());
  }
  std::string state_path() const { return m_path + ".view-state"; }
  std::string data_path() const { return m_path + ".view-data"; }

  FakeBackup m_backup;
};

TEST_F(BlockRestoreTest, AReadOfWhatWasNeverFetchedReturnsTheBackup) {
  open_restoring(false);
  EXPECT_EQ(m_block->counters()["hydrated_blocks"], 0u);
  EXPECT_EQ(m_block->counters()["total_blocks"], kRestoreBlocks);
  EXPECT_EQ(read_guest(16, 4096), backup_bytes(16 * 512, 4096)) << "block 2 whole";
  EXPECT_EQ(m_block->counters()["hydrated_blocks"], 1u);
  // Straddling blocks 0 and 1.
  EXPECT_EQ(read_guest(7, 1024), backup_bytes(7 * 512, 1024));
  EXPECT_EQ(m_block->counters()["hydrated_blocks"], 3u);
  EXPECT_EQ(m_block->counters()["hydration_complete"], false);
  EXPECT_EQ(m_backup.fetches(), 3);
  EXPECT_EQ(read_guest(16, 4096), backup_bytes(16 * 512, 4096));
  EXPECT_EQ(m_backup.fetches(), 3) << "a present block is not fetched again";
  EXPECT_FALSE(failed());
}

TEST_F(BlockRestoreTest, AReadOfAPresentBlockDoesNotWaitForAFetchOfAnother) {
  open_restoring(false);
  EXPECT_EQ(read_guest(16, 4096), backup_bytes(16 * 512, 4096)) << "block 2, now present";
  m_backup.hold(5);
  uint16_t slow = publish(Block::kTypeIn, 40, {{kData, 4096, true}}, 0);  // block 5
  kick();
  ASSERT_TRUE(m_backup.wait_holding());
  uint16_t fast = publish(Block::kTypeIn, 16, {{kData + 0x1000, 4096, true}}, 1);
  kick();
  auto used = wait_used(1);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, fast) << "the present block's read completed while block 5 was fetched";
  EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(block_test::kStatus + 1)).value(), Block::kStatusOk);
  EXPECT_EQ(guest_bytes(kData + 0x1000, 4096), backup_bytes(16 * 512, 4096));
  // A write to another missing block that it replaces whole needs no fetch either.
  ASSERT_TRUE(m_memory->fill(GuestAddr(kData + 0x2000), 4096, 0x5a));
  uint16_t whole = publish(Block::kTypeOut, 80, {{kData + 0x2000, 4096, false}}, 2);  // block 10
  kick();
  used = wait_used(1);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, whole);
  m_backup.let_go();
  used = wait_used(1);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, slow);
  EXPECT_EQ(m_memory->read<uint8_t>(GuestAddr(block_test::kStatus)).value(), Block::kStatusOk);
  EXPECT_EQ(guest_bytes(kData, 4096), backup_bytes(40 * 512, 4096));
  EXPECT_EQ(read_guest(80, 4096), std::vector<uint8_t>(4096, 0x5a));
  EXPECT_FALSE(failed());
}

// Whether the fetch is let go before the pause drains or while it does, the request completes
// before pause() returns.
TEST_F(BlockRestoreTest, APauseWithAFetchInProgressCompletesTheRequest) {
  open_restoring(false);
  m_backup.hold(3);
  uint16_t slow = publish(Block::kTypeIn, 24, {{kData, 4096, true}}, 0);  // block 3
  kick();
  ASSERT_TRUE(m_backup.wait_holding());
  std::thread letting_go([&] { m_backup.let_go(); });
  m_block->pause();  // drains: returns once the fetch ended and the read completed
  letting_go.join();
  auto used = m_driver->take_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, slow);
  EXPECT_EQ(guest_bytes(kData, 4096), backup_bytes(24 * 512, 4096));
  ASSERT_TRUE(m_block->resume());
  EXPECT_EQ(read_guest(24, 4096), backup_bytes(24 * 512, 4096));
  EXPECT_FALSE(failed());
}

TEST_F(BlockRestoreTest, WritesReadBackAndAPartialWriteKeepsTheBackupAroundIt) {
  open_restoring(true);
  // A whole block (block 5) needs nothing fetched.
  write_guest(40, 4096, 0x5a);
  EXPECT_EQ(m_backup.fetches(), 0);
  EXPECT_EQ(read_guest(40, 4096), std::vector<uint8_t>(4096, 0x5a));
  EXPECT_EQ(m_backup.fetches(), 0);
  // One sector in the middle of block 1: the rest of the block is the backup's.
  write_guest(9, 512, 0xa5);
  auto block1 = read_guest(8, 4096);
  auto expected = backup_bytes(4096, 4096);
  std::fill_n(expected.begin() + 512, 512, 0xa5);
  EXPECT_EQ(block1, expected);
  EXPECT_EQ(m_backup.fetches(), 1);
  EXPECT_EQ(m_block->counters()["hydrated_blocks"], 2u);
  EXPECT_EQ(m_block->counters()["total_blocks"], kRestoreBlocks);
  // A flush makes the list of present blocks durable.
  EXPECT_EQ(run(Block::kTypeFlush, 0, {}), Block::kStatusOk);
  auto saved = block::load_bitmap_file(block::HydratingImage::state_path(m_path));
  ASSERT_TRUE(saved && *saved);
  block::DirtyBitmap present(kDiskBytes, kGranularity);
  ASSERT_TRUE(present.merge((*saved)->words));
  EXPECT_TRUE(present.is_dirty(1));
  EXPECT_TRUE(present.is_dirty(5));
  EXPECT_EQ(present.dirty_count(), 2u);
  EXPECT_FALSE(failed());
}

TEST_F(BlockRestoreTest, AFailedFetchFailsTheRequestOnlyNotTheDevice) {
  open_restoring(false);
  m_backup.fail({3});
  EXPECT_EQ(run(Block::kTypeIn, 24, {{kData, 4096, true}}), Block::kStatusIoError);
  EXPECT_FALSE(failed()) << failure();
  EXPECT_EQ(m_block->counters()["errors"], 1u);
  EXPECT_EQ(m_block->counters()["hydrated_blocks"], 0u);
  // A partial write needs the block too.
  ASSERT_TRUE(m_memory->fill(GuestAddr(kData), 512, 0x77));
  EXPECT_EQ(run(Block::kTypeOut, 25, {{kData, 512, false}}), Block::kStatusIoError);
  // The device goes on.
  EXPECT_EQ(read_guest(32, 4096), backup_bytes(32 * 512, 4096));
  m_backup.fail({});
  EXPECT_EQ(read_guest(24, 4096), backup_bytes(24 * 512, 4096)) << "nothing of the write landed";
  EXPECT_EQ(m_block->counters()["hydrated_blocks"], 2u);
  EXPECT_FALSE(failed());
}

TEST_F(BlockRestoreTest, ABackupOfADiskStillRestoringIsRefused) {
  open_restoring(false);
  m_block->pause();
  auto view = m_block->begin_backup(state_path(), data_path(), "");
  ASSERT_TRUE(m_block->resume());
  ASSERT_FALSE(view);
  EXPECT_NE(view.error().message().find(m_path), std::string::npos) << view.error().message();
  EXPECT_NE(view.error().message().find("restored"), std::string::npos) << view.error().message();
  EXPECT_FALSE(m_block->counters().contains("backup_copied_blocks"));
  EXPECT_EQ(read_guest(0, 512), backup_bytes(0, 512)) << "the device goes on";
}

// An image whose size is not whole sectors is backed up whole, as it is when the guest is off
// (the guest sees whole sectors only).
TEST_F(BlockRestoreTest, ABackupViewCoversAPartialLastSector) {
  ASSERT_EQ(::truncate(m_path.c_str(), kDiskBytes + 100), 0);
  open(false, true);
  auto view = begin("");
  ASSERT_TRUE(view) << view.error().message();
  EXPECT_EQ(view->disk_bytes, kDiskBytes + 100);
  auto reader = block::PointInTimeReader::open(state_path(), data_path(), m_path, view->disk_bytes,
                                               view->granularity);
  ASSERT_TRUE(reader) << reader.error().message();
  std::vector<uint8_t> tail(100, 0xcc);
  ASSERT_TRUE((*reader)->read(kDiskBytes, tail));
  EXPECT_EQ(tail, std::vector<uint8_t>(100, 0));
  reader->reset();
  end(true, "R/S");
}

TEST_F(BlockRestoreTest, ABackupViewKeepsTheOldBytesAndHandsTheBitsOver) {
  open(false, true);
  write_guest(0, 4096, 0x11);                       // CBT block 0
  write_guest(2 * kSectorsPerCbtBlock, 512, 0x22);  // CBT block 2
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 2u);

  auto view = begin("");
  ASSERT_TRUE(view) << view.error().message();
  EXPECT_FALSE(view->incremental) << "no baseline yet";
  EXPECT_EQ(view->wanted_blocks, kCbtBlocks);
  EXPECT_EQ(view->disk_bytes, kDiskBytes);
  EXPECT_EQ(view->granularity, kCbtBlock);
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 0u) << "the bits went to the backup";
  EXPECT_EQ(m_block->counters()["backup_copied_blocks"], 0u);

  // The guest overwrites block 0 while the backup runs: the backup still sees the old bytes.
  write_guest(0, 4096, 0x33);
  EXPECT_EQ(m_block->counters()["backup_copied_blocks"], 1u);
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 1u);
  auto reader = block::PointInTimeReader::open(state_path(), data_path(), m_path, view->disk_bytes,
                                               view->granularity);
  ASSERT_TRUE(reader) << reader.error().message();
  std::vector<uint8_t> old(kCbtBlock);
  ASSERT_TRUE((*reader)->read(0, old));
  auto expected = pattern_bytes(0, kCbtBlock);
  std::fill_n(expected.begin(), 4096, 0x11);
  EXPECT_EQ(old, expected);
  EXPECT_EQ(image_bytes(0, 4096), std::vector<uint8_t>(4096, 0x33)) << "the guest's write landed";
  std::vector<uint8_t> untouched(kCbtBlock);
  ASSERT_TRUE((*reader)->read(5 * kCbtBlock, untouched));
  EXPECT_EQ(untouched, pattern_bytes(5 * kCbtBlock, kCbtBlock));
  reader->reset();

  end(true, "R/S");
  EXPECT_EQ(m_block->counters()["cbt_baseline"], "R/S");
  EXPECT_EQ(m_block->counters()["cbt_valid"], true);
  EXPECT_FALSE(m_block->counters().contains("backup_copied_blocks")) << "the view ended";

  // The next backup wants what changed since: block 0 (during the first) and block 7.
  write_guest(7 * kSectorsPerCbtBlock + 3, 1024, 0x44);
  auto next = begin("R/S");
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_TRUE(next->incremental);
  EXPECT_EQ(next->wanted_blocks, 2u);
  write_guest(9 * kSectorsPerCbtBlock, 512, 0x55);  // not wanted: nothing copied
  EXPECT_EQ(m_block->counters()["backup_copied_blocks"], 0u);
  // It fails: what it took is merged back with what came since.
  end(false, "");
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 3u);
  EXPECT_EQ(m_block->counters()["cbt_baseline"], "R/S");
  EXPECT_EQ(m_block->counters()["cbt_valid"], true);

  // Another baseline than the bitmap's: every block.
  auto full = begin("R/other");
  ASSERT_TRUE(full) << full.error().message();
  EXPECT_FALSE(full->incremental);
  EXPECT_EQ(full->wanted_blocks, kCbtBlocks);
  end(false, "");
  EXPECT_EQ(m_block->counters()["dirty_blocks"], 3u);
  EXPECT_FALSE(failed()) << failure();
}

TEST_F(BlockRestoreTest, AViewInLargerChunksWantsEachChunkWithAChangeAndReadsItWhole) {
  open(false, true);
  ASSERT_TRUE(begin(""));
  end(true, "R/S");
  write_guest(1 * kSectorsPerCbtBlock, 512, 0x66);  // CBT block 1: chunk 0 of 4 blocks
  write_guest(9 * kSectorsPerCbtBlock, 512, 0x77);  // CBT block 9: chunk 2
  auto view = begin("R/S", 4 * kCbtBlock);
  ASSERT_TRUE(view) << view.error().message();
  EXPECT_TRUE(view->incremental);
  EXPECT_EQ(view->granularity, 4 * kCbtBlock);
  EXPECT_EQ(view->wanted_blocks, 2u);
  auto reader = block::PointInTimeReader::open(state_path(), data_path(), m_path, view->disk_bytes,
                                               view->granularity);
  ASSERT_TRUE(reader) << reader.error().message();
  EXPECT_TRUE((*reader)->wanted(0, 4 * kCbtBlock));
  EXPECT_FALSE((*reader)->wanted(4 * kCbtBlock, 4 * kCbtBlock));
  std::vector<uint8_t> chunk(4 * kCbtBlock);  // read whole, clean blocks and all
  ASSERT_TRUE((*reader)->read(8 * kCbtBlock, chunk));
  auto expected = pattern_bytes(8 * kCbtBlock, 4 * kCbtBlock);
  std::fill_n(expected.begin() + kCbtBlock, 512, 0x77);
  EXPECT_EQ(chunk, expected);
  reader->reset();
  EXPECT_FALSE(begin("R/S", 3 * kCbtBlock)) << "not a power of two";
  end(false, "");
  EXPECT_FALSE(failed()) << failure();
}

}  // namespace
}  // namespace haven::devices::virtio
