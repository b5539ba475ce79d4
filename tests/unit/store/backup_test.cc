#include "store/backup.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <functional>

#include "store/prune.h"
#include "store/restore.h"
#include "store/verify.h"
#include "store_fixture.h"

namespace haven::store {
namespace {

class BackupTest : public testing::StoreTest {
 protected:
  Snapshot backup(Repository& repo, const std::string& source, const std::string& name = "vm1") {
    auto snapshot = backup_image(repo, {source, name, {"test"}, 2, nullptr});
    EXPECT_TRUE(snapshot) << snapshot.error().message();
    return snapshot ? *snapshot : Snapshot{};
  }
  void restore_and_compare(Repository& repo, const Snapshot& snapshot,
                           const std::vector<uint8_t>& expected) {
    auto restored = restore_snapshot(repo, snapshot, {path("restored.img"), 2, true, nullptr});
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(read_file(path("restored.img")), expected);
    EXPECT_FALSE(std::filesystem::exists(path("restored.img.partial")));
  }
};

// What makes a file count as unchanged: everything the snapshot recorded, and both times
// older than the look by the racy margin.
TEST(UnchangedSince, NeedsTheSameFileWithTimesOlderThanTheLook) {
  const int64_t look = int64_t{1'800'000'000} * 1'000'000'000;
  SourceFile then{.device = 3,
                  .inode = 77,
                  .size = 4096,
                  .mtime_ns = look - 3 * kRacyNs,
                  .ctime_ns = look - 3 * kRacyNs,
                  .seen_ns = look};
  SourceFile now = then;
  now.seen_ns = look + 60 * int64_t{1'000'000'000};
  EXPECT_TRUE(unchanged_since(then, now));
  for (auto change : std::vector<std::function<void(SourceFile&)>>{
           [](SourceFile& f) { f.device++; }, [](SourceFile& f) { f.inode++; },
           [](SourceFile& f) { f.size++; }, [](SourceFile& f) { f.mtime_ns++; },
           [](SourceFile& f) { f.ctime_ns++; }}) {
    SourceFile other = now;
    change(other);
    EXPECT_FALSE(unchanged_since(then, other));
  }
  SourceFile racy = then;
  racy.mtime_ns = look - kRacyNs + 1;  // modified just before the look
  EXPECT_FALSE(unchanged_since(racy, racy));
  racy = then;
  racy.ctime_ns = look - 1;  // its change time just before the look (cp -p, touch -d)
  EXPECT_FALSE(unchanged_since(racy, racy));
}

// A regular file unchanged since the last snapshot of its name is not read again: the new
// snapshot takes that one's ids. (A file whose change time is old is needed, and nothing
// sets one back: a system file the tests only read.)
TEST_F(BackupTest, AnUnchangedFileIsTakenFromItsLastSnapshotUnread) {
  std::string old_file;
  for (const char* candidate : {"/usr/bin/env", "/bin/sh", "/etc/os-release", "/etc/passwd"}) {
    struct stat st {};
    if (::stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        st.st_ctime < ::time(nullptr) - 10 && st.st_mtime < ::time(nullptr) - 10) {
      old_file = candidate;
      break;
    }
  }
  ASSERT_FALSE(old_file.empty()) << "no system file with an old change time";
  auto repo = make_repo();
  uint64_t read_bytes = 0;
  auto run = [&](const std::string& source, const std::string& name, bool force_read = false) {
    BackupOptions options{
        source, name, {}, 2, [&](const Progress& p) { read_bytes = p.read_bytes; }};
    options.force_read = force_read;
    auto snapshot = backup_image(*repo, options);
    EXPECT_TRUE(snapshot) << snapshot.error().message();
    return snapshot ? *snapshot : Snapshot{};
  };
  Snapshot first = run(old_file, "sys");
  EXPECT_GT(read_bytes, 0u);
  ASSERT_TRUE(first.source_file);
  EXPECT_TRUE(first.parent.empty());

  Snapshot second = run(old_file, "sys");
  EXPECT_EQ(read_bytes, 0u) << "unchanged: not read";
  EXPECT_EQ(second.parent, first.id);
  EXPECT_EQ(second.chunks, first.chunks);
  EXPECT_EQ(second.new_bytes, 0u);
  auto stored = repo->read_snapshot(second.id).value();
  EXPECT_EQ(stored.parent, first.id);
  restore_and_compare(*repo, stored, read_file(old_file));

  // Another name, or --force-read: read.
  EXPECT_TRUE(run(old_file, "other").parent.empty());
  EXPECT_GT(read_bytes, 0u);
  EXPECT_TRUE(run(old_file, "sys", true).parent.empty());
  EXPECT_GT(read_bytes, 0u);

  // A file just written (or written and its modification time set back: its change time is
  // new) is read again while its times are within the margin of the look that recorded it.
  auto disk = random_data(40 * 4096 + 123, 21);
  write_file(path("disk.img"), disk);
  timespec times[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path("disk.img").c_str(), times, 0), 0);
  Snapshot fresh = run(path("disk.img"), "vm1");
  ASSERT_TRUE(fresh.source_file);
  const SourceFile& seen = *fresh.source_file;
  EXPECT_LT(seen.mtime_ns, seen.seen_ns - kRacyNs) << "the modification time is old";
  Snapshot again = run(path("disk.img"), "vm1");
  // (Deterministic whatever the machine's speed: decided by what the first backup recorded.)
  bool racy = seen.ctime_ns > seen.seen_ns - kRacyNs;
  EXPECT_EQ(again.parent.empty(), racy);
  EXPECT_EQ(read_bytes, racy ? disk.size() : 0u);
}

// Through a reader (a guest's point-in-time view) there is no file identity to trust.
TEST_F(BackupTest, AViewThroughAReaderIsNeverTakenUnread) {
  auto repo = make_repo();
  write_file(path("disk.img"), random_data(8 * 4096, 22));
  BackupOptions options{path("disk.img"), "vm1", {}, 2, nullptr};
  options.read = [&](uint64_t, std::span<uint8_t> data) -> Result<void> {
    std::fill(data.begin(), data.end(), 1);
    return {};
  };
  auto viewed = backup_image(*repo, options).value();
  EXPECT_FALSE(viewed.source_file);
  EXPECT_TRUE(viewed.parent.empty());
  EXPECT_TRUE(backup(*repo, path("disk.img")).source_file);
}

TEST_F(BackupTest, RoundTripsADiskWithAPartialLastChunk) {
  auto repo = make_repo();
  auto disk = random_data(40 * 4096 + 123, 7);
  write_file(path("disk.img"), disk);
  Snapshot snapshot = backup(*repo, path("disk.img"));
  EXPECT_EQ(snapshot.size, disk.size());
  EXPECT_EQ(snapshot.chunks.size(), 41u);
  EXPECT_EQ(snapshot.new_bytes, disk.size());
  restore_and_compare(*repo, snapshot, disk);
}

TEST_F(BackupTest, RestoreRefusesToReplaceAFileUnlessAllowed) {
  auto repo = make_repo();
  auto disk = random_data(4 * 4096, 8);
  write_file(path("disk.img"), disk);
  Snapshot snapshot = backup(*repo, path("disk.img"));
  write_file(path("precious.img"), {42});
  auto refused = restore_snapshot(*repo, snapshot, {path("precious.img"), 2, false, nullptr});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("exists"), std::string::npos);
  EXPECT_EQ(read_file(path("precious.img")), std::vector<uint8_t>{42});
  ASSERT_TRUE(restore_snapshot(*repo, snapshot, {path("precious.img"), 2, true, nullptr}));
  EXPECT_EQ(read_file(path("precious.img")), disk);
}

TEST_F(BackupTest, ZerosAndHolesCostNothingAndRestoreSparse) {
  auto repo = make_repo(true);
  // 1 MiB: a data block at 256 KiB, a written block of zeros at 512 KiB, holes elsewhere.
  write_file(path("disk.img"), {});
  ASSERT_EQ(::truncate(path("disk.img").c_str(), 1 << 20), 0);
  auto data = random_data(4096, 1);
  int fd = ::open(path("disk.img").c_str(), O_WRONLY);
  ASSERT_EQ(::pwrite(fd, data.data(), 4096, 256 << 10), 4096);
  std::vector<uint8_t> zeros(4096);
  ASSERT_EQ(::pwrite(fd, zeros.data(), 4096, 512 << 10), 4096);
  ::close(fd);
  Snapshot snapshot = backup(*repo, path("disk.img"));
  EXPECT_EQ(snapshot.new_bytes, 4096u) << "only the data block is stored";
  size_t holes = 0;
  for (const auto& id : snapshot.chunks) holes += Snapshot::is_hole(id);
  EXPECT_EQ(holes, snapshot.chunks.size() - 1);
  restore_and_compare(*repo, snapshot, read_file(path("disk.img")));
  struct stat st {};
  ASSERT_EQ(::stat(path("restored.img").c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 64 << 10) << "the restored file is sparse";
}

TEST_F(BackupTest, RestoreSpanningSegmentsKeepsHolesAndOddTails) {
  // 9 MiB + 123 bytes of 4 KiB chunks: restore's 4 MiB segments, runs broken by holes at
  // segment edges and inside, compressible and random data, and an unaligned last chunk.
  auto repo = make_repo(true);
  const size_t size = (9 << 20) + 123;
  auto disk = random_data(size, 11);
  for (size_t at : {size_t{0}, size_t{(4 << 20) - 8192}, size_t{4 << 20}, size_t{6 << 20}})
    std::fill(disk.begin() + at, disk.begin() + at + 3 * 4096, 0);  // zero chunks: holes
  const size_t long_hole = 512 << 10;
  std::fill(disk.begin() + (5 << 20), disk.begin() + (5 << 20) + long_hole, 0);
  std::fill(disk.begin() + (7 << 20), disk.begin() + (8 << 20), 'x');  // compressible
  write_file(path("disk.img"), disk);
  Snapshot snapshot = backup(*repo, path("disk.img"));
  restore_and_compare(*repo, snapshot, disk);
  // A file system may fill a gap of a few blocks between two writes (ext4 zeroes out short
  // unwritten ranges rather than split an extent), so the sparseness check counts on the
  // long hole only.
  struct stat st {};
  ASSERT_EQ(::stat(path("restored.img").c_str(), &st), 0);
  EXPECT_LE(static_cast<size_t>(st.st_blocks) * 512, size - long_hole + 4096) << "holes stay holes";
}

TEST_F(BackupTest, UnchangedDataIsNotStoredTwiceAndAChangeCostsItsChunks) {
  auto repo = make_repo();
  auto disk = random_data(256 * 4096, 3);
  // Two identical halves: dedup inside one backup too.
  std::copy(disk.begin(), disk.begin() + 128 * 4096, disk.begin() + 128 * 4096);
  write_file(path("disk.img"), disk);
  Snapshot first = backup(*repo, path("disk.img"));
  EXPECT_EQ(first.new_bytes, 128u * 4096);
  Snapshot second = backup(*repo, path("disk.img"));
  EXPECT_EQ(second.new_bytes, 0u);
  // Change 3 blocks (one spanning two chunks' worth of bytes across a boundary).
  for (size_t at : {size_t{5 * 4096 + 10}, size_t{200 * 4096}})
    for (size_t i = 0; i < 4096; ++i) disk[at + i] ^= 0xff;
  write_file(path("disk.img"), disk);
  Snapshot third = backup(*repo, path("disk.img"));
  EXPECT_EQ(third.new_bytes, 3u * 4096);
  restore_and_compare(*repo, third, disk);
  restore_and_compare(*repo, first, [&] {
    auto original = random_data(256 * 4096, 3);
    std::copy(original.begin(), original.begin() + 128 * 4096, original.begin() + 128 * 4096);
    return original;
  }());
}

TEST_F(BackupTest, ChangedBlockTrackingReadsOnlyTheChangedChunks) {
  auto repo = make_repo();
  auto disk = random_data(64 * 4096, 11);
  write_file(path("disk.img"), disk);
  Snapshot first = backup(*repo, path("disk.img"));
  // The guest changes chunks 3 and 40, and the tracker says so.
  for (size_t chunk : {3, 40})
    for (size_t i = 0; i < 100; ++i) disk[chunk * 4096 + i] ^= 0x5a;
  write_file(path("disk.img"), disk);
  auto changed = [](uint64_t offset, uint64_t length) {
    for (uint64_t chunk = offset / 4096; chunk < (offset + length + 4095) / 4096; ++chunk)
      if (chunk == 3 || chunk == 40) return true;
    return false;
  };
  Progress last;
  BackupOptions options{path("disk.img"), "vm1", {}, 2, [&](const Progress& p) { last = p; }};
  options.parent = &first;
  options.changed = changed;
  auto second = backup_image(*repo, options);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(last.read_bytes, 2u * 4096) << "only the two changed chunks were read";
  EXPECT_EQ(second->new_bytes, 2u * 4096);
  restore_and_compare(*repo, *second, disk);
  // Tracking that does not line up with the disk (another size) is not trusted.
  Snapshot other = first;
  other.size += 4096;
  other.chunks.emplace_back();
  options.parent = &other;
  auto third = backup_image(*repo, options);
  ASSERT_TRUE(third);
  EXPECT_EQ(last.read_bytes, 64u * 4096) << "a full read";
}

TEST_F(BackupTest, VerifyNamesEverySnapshotAndOffsetADamagedChunkTouches) {
  auto repo = make_repo();
  auto disk = random_data(16 * 4096, 4);
  write_file(path("disk.img"), disk);
  Snapshot first = backup(*repo, path("disk.img"));
  Snapshot second = backup(*repo, path("disk.img"), "vm1-again");
  auto clean = verify_snapshots(*repo, {}, 2, nullptr).value();
  EXPECT_TRUE(clean.ok());
  EXPECT_EQ(clean.chunks_checked, 16u);

  // Damage one byte in the middle of the only pack.
  auto packs = files_in("repo/packs");
  ASSERT_EQ(packs.size(), 1u);
  auto pack = read_file(packs[0]);
  pack[pack.size() / 2] ^= 1;
  write_file(packs[0], pack);
  auto reopened = open_repo();
  auto report = verify_snapshots(*reopened, {}, 2, nullptr).value();
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(report.damage.size(), 2u) << "one chunk, used by both snapshots";
  EXPECT_NE(report.damage[0].snapshot, report.damage[1].snapshot);
  EXPECT_EQ(report.damage[0].offset, report.damage[1].offset);
  EXPECT_EQ(report.damage[0].offset % 4096, 0u);
  auto one = verify_snapshots(*reopened, {first.id}, 2, nullptr).value();
  ASSERT_EQ(one.damage.size(), 1u);
  EXPECT_EQ(one.damage[0].snapshot, first.id);

  auto restore = restore_snapshot(*reopened, first, {path("restored.img"), 2, true, nullptr});
  ASSERT_FALSE(restore) << "a damaged chunk is never written out";
  EXPECT_NE(restore.error().message().find("offset"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path("restored.img")));
  EXPECT_FALSE(std::filesystem::exists(path("restored.img.partial")));
}

// A chunk verify found damaged is not taken for present by the next backup (nor by one that
// tracks changes, whose parent uses it): the backup stores it again, and every snapshot that
// used it restores again. Until then the damaged copy stays indexed: prune keeps its pack.
TEST_F(BackupTest, TheNextBackupStoresAgainWhatVerifyFoundDamaged) {
  auto repo = make_repo();
  auto disk = random_data(16 * 4096, 5);
  write_file(path("disk.img"), disk);
  Snapshot first = backup(*repo, path("disk.img"));
  auto packs = files_in("repo/packs");
  ASSERT_EQ(packs.size(), 1u);
  auto pack = read_file(packs[0]);
  pack[pack.size() / 2] ^= 1;
  write_file(packs[0], pack);

  auto report = verify_snapshots(*repo, {}, 2, nullptr).value();
  ASSERT_EQ(report.damage.size(), 1u);
  EXPECT_EQ(report.chunks_marked, 1u);
  EXPECT_TRUE(report.marking_errors.empty());
  EXPECT_EQ(files_in("repo/damaged").size(), 1u);

  // Through a point-in-time view (a running guest's), such a parent is an error: the view
  // protects only the blocks it was asked for, so the chunk cannot be read from it.
  BackupOptions through_view{path("disk.img"), "vm1", {}, 2, nullptr};
  through_view.parent = &first;
  through_view.changed = [](uint64_t, uint64_t) { return false; };
  through_view.read = [&](uint64_t offset, std::span<uint8_t> out) -> Result<void> {
    std::copy_n(disk.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    return {};
  };
  auto refused = backup_image(*repo, through_view);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("damaged"), std::string::npos)
      << refused.error().message();

  // Changed-block tracking says nothing changed: the damaged chunk is read all the same.
  Progress last;
  BackupOptions options{path("disk.img"), "vm1", {}, 2, [&](const Progress& p) { last = p; }};
  options.parent = &first;
  options.changed = [](uint64_t, uint64_t) { return false; };
  auto second = backup_image(*repo, options);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->new_bytes, 4096u) << "the damaged chunk, stored again";
  EXPECT_EQ(last.read_bytes, 16u * 4096) << "a parent with a damaged chunk is no parent";

  auto reopened = open_repo();
  auto again = verify_snapshots(*reopened, {}, 2, nullptr).value();
  EXPECT_TRUE(again.ok()) << again.damage.size() << " damaged";
  restore_and_compare(*reopened, first, disk);
  restore_and_compare(*reopened, *second, disk);
}

// A mark deletes nothing: prune keeps the pack holding a damaged chunk's only copy (the whole
// pack, here), since its blob may still be mended by hand or read in part.
TEST_F(BackupTest, AMarkNeverMakesPruneDeleteTheOnlyCopy) {
  auto repo = make_repo();
  write_file(path("disk.img"), random_data(4096, 7));
  backup(*repo, path("disk.img"));
  auto packs = files_in("repo/packs");
  ASSERT_EQ(packs.size(), 1u);
  auto pack = read_file(packs[0]);
  auto location = repo->index().entries().at(0).location;
  pack[location.offset + location.length - 20] ^= 1;
  write_file(packs[0], pack);
  EXPECT_EQ(verify_snapshots(*repo, {}, 2, nullptr).value().chunks_marked, 1u);
  auto reopened = open_repo();
  auto pruned = prune_snapshots(*reopened, {}, false);
  ASSERT_TRUE(pruned) << pruned.error().message();
  EXPECT_EQ(files_in("repo/packs"), packs);
  EXPECT_EQ(files_in("repo/damaged").size(), 1u);
}

// A pack's list of blobs is no garbage: a pack of small, well-compressed chunks that a
// snapshot uses whole is not rewritten by every prune.
TEST_F(BackupTest, PruneDoesNotCountAPacksListAsGarbage) {
  auto repo = make_repo();
  std::vector<uint8_t> disk(200 * 4096);
  for (size_t i = 0; i < disk.size(); ++i) disk[i] = static_cast<uint8_t>(i / 4096 + 1);
  write_file(path("disk.img"), disk);
  backup(*repo, path("disk.img"));
  auto pruned = prune_snapshots(*repo, {}, false);
  ASSERT_TRUE(pruned) << pruned.error().message();
  EXPECT_EQ(pruned->packs_rewritten, 0u);
  EXPECT_EQ(pruned->packs_removed, 0u);
}

// A chunk that could not be read for an errno (a pack gone, EMFILE, EIO) is reported, never
// marked: that says nothing of the data, and a mark would have it stored again for nothing.
TEST_F(BackupTest, VerifyMarksOnlyDataThatFailedItsCheck) {
  auto repo = make_repo();
  write_file(path("disk.img"), random_data(4 * 4096, 6));
  backup(*repo, path("disk.img"));
  auto packs = files_in("repo/packs");
  ASSERT_EQ(packs.size(), 1u);
  std::filesystem::rename(packs[0], path("elsewhere"));
  auto reopened = open_repo();
  auto report = verify_snapshots(*reopened, {}, 2, nullptr).value();
  EXPECT_EQ(report.damage.size(), 4u);
  EXPECT_EQ(report.chunks_marked, 0u);
  EXPECT_FALSE(std::filesystem::exists(path("repo/damaged")));
}

TEST_F(BackupTest, AnInterruptedBackupLeavesTheRepositoryConsistent) {
  auto repo = make_repo();
  auto disk = random_data(64 * 4096, 5);
  write_file(path("disk.img"), disk);
  {
    // A backup that wrote and committed a pack, then died before its index and snapshot.
    auto lock = repo->lock_for_writing().value();
    ChunkWriter writer(*repo);
    auto data = std::vector<uint8_t>(disk.begin(), disk.begin() + 4096);
    ChunkId id = repo->chunk_id(data);
    ASSERT_TRUE(writer.claim(id));
    ASSERT_TRUE(writer.write(
        id, encode_blob(repo->codec(), BlobKind::chunk, data, id.bytes).value(), 4096));
  }  // no finish(): dropped uncommitted (kill -9 would leave it in tmp/: see RepositoryTest)
  write_file(path("repo/snapshots/0011223344556677.tmp-abcdef"), {1, 2});
  auto reopened = open_repo();
  EXPECT_TRUE(reopened->list_snapshots().value().empty());
  EXPECT_TRUE(verify_snapshots(*reopened, {}, 2, nullptr).value().ok());
  Snapshot snapshot = backup(*reopened, path("disk.img"));
  EXPECT_TRUE(files_in("repo/tmp").empty());
  EXPECT_TRUE(verify_snapshots(*reopened, {}, 2, nullptr).value().ok());
  restore_and_compare(*reopened, snapshot, disk);
}

TEST_F(BackupTest, ASourceThatIsNotADiskIsRefused) {
  auto repo = make_repo();
  auto refused = backup_image(*repo, {m_dir, "x", {}, 1, nullptr});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("not a regular file or a block device"),
            std::string::npos);
  auto missing = backup_image(*repo, {path("missing.img"), "x", {}, 1, nullptr});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("missing.img"), std::string::npos);
}

TEST_F(BackupTest, ProgressReachesTheTotal) {
  auto repo = make_repo();
  write_file(path("disk.img"), random_data(64 * 4096, 6));
  Progress last;
  auto snapshot = backup_image(
      *repo, {path("disk.img"), "vm", {}, 2, [&](const Progress& progress) { last = progress; }});
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(last.done_bytes, 64u * 4096);
  EXPECT_EQ(last.total_bytes, 64u * 4096);
  EXPECT_EQ(last.new_bytes, 64u * 4096);
}

}  // namespace
}  // namespace haven::store
