#include "store/repair.h"

#include <sys/stat.h>

#include "store/backup.h"
#include "store/pack.h"
#include "store/prune.h"
#include "store/restore.h"
#include "store/verify.h"
#include "store_fixture.h"

namespace haven::store {
namespace {

class RepairTest : public testing::StoreTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool encrypted() const { return GetParam(); }
  Snapshot backup(Repository& repo, const std::string& name = "vm1") {
    auto snapshot = backup_image(repo, {path("disk.img"), name, {}, 2, nullptr});
    EXPECT_TRUE(snapshot) << snapshot.error().message();
    return snapshot ? *snapshot : Snapshot{};
  }
  RepairReport repair(Repository& repo, bool dry_run = false) {
    auto report = repair_repository(repo, dry_run, 2, nullptr);
    EXPECT_TRUE(report) << report.error().message();
    return report ? *report : RepairReport{};
  }
  std::unique_ptr<Repository> open_without_index() {
    auto repo = Repository::open_without_index(
        path("repo"), []() -> Result<std::string> { return std::string("test passphrase"); });
    EXPECT_TRUE(repo) << repo.error().message();
    return repo ? std::move(*repo) : nullptr;
  }
  bool restores(Repository& repo, const Snapshot& snapshot, const std::vector<uint8_t>& data) {
    auto restored = restore_snapshot(repo, snapshot, {path("restored.img"), 2, true, nullptr});
    return restored && read_file(path("restored.img")) == data;
  }
  // Flips a byte of chunk `index` of `snapshot` where it is stored.
  void damage_chunk(Repository& repo, const Snapshot& snapshot, size_t index) {
    auto location = repo.index().find(snapshot.chunks.at(index)).value();
    std::string name = pack_name(location.pack);
    std::string file = path("repo/packs/" + name.substr(0, 2) + "/" + name);
    ASSERT_TRUE(sys::set_immutable(file, false));  // an append-only repository's
    auto bytes = read_file(file);
    bytes.at(location.offset + location.length / 2) ^= 0x5a;
    write_file(file, bytes);
  }
};

INSTANTIATE_TEST_SUITE_P(SealedAndPlain, RepairTest, ::testing::Bool());

TEST_P(RepairTest, AHealthyRepositoryIsLeftAsItIs) {
  auto repo = make_repo(encrypted());
  write_file(path("disk.img"), random_data(40000, 1));
  backup(*repo);
  auto index_before = files_in("repo/index");
  auto report = repair(*repo);
  EXPECT_TRUE(report.clean());
  EXPECT_FALSE(report.index_rewritten);
  EXPECT_EQ(report.chunks_indexed, 10u);
  EXPECT_EQ(report.blobs_checked, 10u);
  EXPECT_EQ(files_in("repo/index"), index_before);
}

TEST_P(RepairTest, LostIndexFilesAreRebuiltFromThePacksOwnLists) {
  auto repo = make_repo(encrypted());
  auto data = random_data(40000, 2);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  for (const std::string& file : files_in("repo/index")) std::filesystem::remove(file);
  repo = open_repo();
  EXPECT_FALSE(restores(*repo, snapshot, data)) << "no index: nothing can be read";

  auto dry = repair(*repo, true);
  EXPECT_EQ(dry.chunks_recovered, 10u);
  EXPECT_TRUE(files_in("repo/index").empty()) << "a dry run changes nothing";

  auto report = repair(*repo);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.chunks_recovered, 10u);
  EXPECT_TRUE(report.index_rewritten);
  EXPECT_TRUE(restores(*repo, snapshot, data));
  EXPECT_TRUE(restores(*open_repo(), snapshot, data)) << "durably";
}

TEST_P(RepairTest, ADamagedIndexFileIsReplacedEvenWhenTheRepositoryCannotOpen) {
  auto repo = make_repo(encrypted());
  auto data = random_data(40000, 3);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  std::string index = files_in("repo/index").at(0);
  auto bytes = read_file(index);
  bytes.at(bytes.size() / 2) ^= 1;
  write_file(index, bytes);
  auto refused =
      Repository::open(path("repo"), [] { return Result<std::string>("test passphrase"); });
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("haven repo repair"), std::string::npos)
      << refused.error().message();

  auto unindexed = open_without_index();
  auto report = repair(*unindexed);
  EXPECT_EQ(report.damaged_index_files.size(), 1u);
  EXPECT_TRUE(report.ok());
  EXPECT_TRUE(restores(*open_repo(), snapshot, data));
}

TEST_P(RepairTest, DamagedChunksAreDroppedTheLossNamedAndABackupMakesTheSnapshotWhole) {
  auto repo = make_repo(encrypted());
  auto data = random_data(40000, 4);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  damage_chunk(*repo, snapshot, 3);

  auto report = repair(*repo);
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(report.lost.size(), 1u);
  EXPECT_EQ(report.lost[0].snapshot, snapshot.id);
  EXPECT_EQ(report.lost[0].chunks, 1u);
  EXPECT_EQ(report.lost[0].first_offset, 3 * 4096u);
  EXPECT_EQ(report.damaged_blobs.size(), 1u);
  EXPECT_EQ(report.chunks_dropped, 1u);
  EXPECT_FALSE(repo->index().contains(snapshot.chunks[3]));

  // The next backup of the same data stores the chunk again: the old snapshot is whole.
  backup(*repo);
  EXPECT_TRUE(restores(*repo, snapshot, data));
  auto verified = verify_snapshots(*repo, {}, 2, nullptr).value();
  EXPECT_TRUE(verified.ok());
  auto again = repair(*repo);
  EXPECT_TRUE(again.clean()) << "a dropped blob left in its pack is not damage again";
  EXPECT_EQ(again.unindexed_damaged_blobs, 1u);
}

TEST_P(RepairTest, APackOfTheFirstLayoutIsCheckedThroughTheIndex) {
  auto repo = make_repo(encrypted());
  auto data = random_data(40000, 5);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  // What an older Haven wrote: no list at the end, the first magic.
  std::string pack = files_in("repo/packs").at(0);
  auto bytes = read_file(pack);
  uint64_t list_length;
  std::memcpy(&list_length, bytes.data() + bytes.size() - kPackEndBytes, 8);
  bytes.resize(bytes.size() - kPackEndBytes - list_length);
  std::memcpy(bytes.data(), kListlessPackMagic, 8);
  write_file(pack, bytes);
  repo = open_repo();
  damage_chunk(*repo, snapshot, 0);

  auto report = repair(*repo);
  EXPECT_EQ(report.listless_packs, 1u);
  EXPECT_EQ(report.blobs_checked, 10u);
  EXPECT_EQ(report.chunks_dropped, 1u);
  ASSERT_EQ(report.lost.size(), 1u);
  EXPECT_EQ(report.lost[0].first_offset, 0u);
}

TEST_P(RepairTest, AMissingPackIsNamedAndItsSnapshotsLoss) {
  auto repo = make_repo(encrypted());
  write_file(path("disk.img"), random_data(40000, 6));
  Snapshot snapshot = backup(*repo);
  std::string pack = files_in("repo/packs").at(0);
  std::filesystem::remove(pack);
  auto report = repair(*repo);
  ASSERT_EQ(report.missing_packs.size(), 1u);
  EXPECT_NE(pack.find(report.missing_packs[0]), std::string::npos);
  ASSERT_EQ(report.lost.size(), 1u);
  EXPECT_EQ(report.lost[0].chunks, 10u);
  EXPECT_EQ(repo->index().size(), 0u);
}

TEST_P(RepairTest, AnAppendOnlyRepositoryGainsEntriesAndMarksButLosesNothing) {
  InitOptions init = options(encrypted());
  init.append_only = true;
  ASSERT_TRUE(Repository::init(path("repo"), init));
  auto repo = open_repo();
  auto data = random_data(40000, 7);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  damage_chunk(*repo, snapshot, 2);
  auto index_before = files_in("repo/index");
  auto report = repair(*repo);
  EXPECT_EQ(report.lost.size(), 1u);
  for (const std::string& file : index_before) EXPECT_TRUE(std::filesystem::exists(file));
  EXPECT_FALSE(repo->holds_healthy(snapshot.chunks[2])) << "marked";
  backup(*repo);
  EXPECT_TRUE(restores(*repo, snapshot, data));
}

TEST_P(RepairTest, ADamagedIndexFileIsSetAsideAndPruneKeepsPacksNoIndexNames) {
  auto repo = make_repo(encrypted());
  auto data = random_data(40000, 9);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  std::string index = files_in("repo/index").at(0);
  auto bytes = read_file(index);
  bytes.at(10) ^= 1;
  write_file(index, bytes);
  auto unindexed = open_without_index();
  auto report = repair(*unindexed);
  EXPECT_TRUE(report.ok());
  EXPECT_FALSE(std::filesystem::exists(index));
  EXPECT_EQ(files_in("repo/index-damaged").size(), 1u) << "set aside, not deleted";
  auto reopened = open_repo();
  EXPECT_TRUE(restores(*reopened, snapshot, data));
  // A pack no index names: prune must not take it while the set-aside file may be its only
  // record.
  std::string stray = path("repo/packs/00/00000000000000000000000000000000");
  std::filesystem::create_directories(path("repo/packs/00"));
  write_file(stray, std::vector<uint8_t>(100, 1));
  auto pruned = prune_snapshots(*reopened, {}, false);
  ASSERT_TRUE(pruned) << pruned.error().message();
  EXPECT_TRUE(pruned->garbage_kept);
  EXPECT_TRUE(std::filesystem::exists(stray));
  EXPECT_FALSE(repair(*reopened).clean()) << "the file set aside is still to be looked at";
  // Once the user removed it, prune collects garbage again.
  std::filesystem::remove_all(path("repo/index-damaged"));
  pruned = prune_snapshots(*reopened, {}, false);
  ASSERT_TRUE(pruned) << pruned.error().message();
  EXPECT_FALSE(pruned->garbage_kept);
  EXPECT_FALSE(std::filesystem::exists(stray));
  EXPECT_TRUE(restores(*open_repo(), snapshot, data));
}

// What failed to read for a while (a pack on a device not mounted, a passing EIO) is not lost
// for good: the index file naming it is set aside, prune leaves the packs alone, and a repair
// once the pack is back takes it in again.
TEST_P(RepairTest, WhatFailedForAWhileComesBackWithTheNextRepair) {
  auto repo = make_repo(encrypted());
  auto data = random_data(40000, 14);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  std::string pack = files_in("repo/packs").at(0);
  std::filesystem::rename(pack, path("away"));
  auto report = repair(*repo);
  EXPECT_EQ(report.missing_packs.size(), 1u);
  EXPECT_EQ(report.lost.size(), 1u);
  EXPECT_EQ(files_in("repo/index-damaged").size(), 1u) << "set aside, not deleted";
  auto pruned = prune_snapshots(*repo, {}, false);
  ASSERT_TRUE(pruned);
  EXPECT_TRUE(pruned->garbage_kept);

  std::filesystem::rename(path("away"), pack);
  auto back = repair(*repo);
  EXPECT_TRUE(back.ok());
  EXPECT_EQ(back.chunks_recovered, 10u);
  EXPECT_TRUE(files_in("repo/index-damaged").empty()) << "superseded: removed";
  EXPECT_TRUE(restores(*repo, snapshot, data));
  EXPECT_TRUE(repair(*repo).clean());
}

TEST_P(RepairTest, AnAppendOnlyRepositoryMarksADamagedIndexFileAndOpensAgain) {
  InitOptions init = options(encrypted());
  init.append_only = true;
  ASSERT_TRUE(Repository::init(path("repo"), init));
  auto repo = open_repo();
  auto data = random_data(40000, 11);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  std::string index = files_in("repo/index").at(0);
  ASSERT_TRUE(sys::set_immutable(index, false));
  auto bytes = read_file(index);
  bytes.at(10) ^= 1;
  write_file(index, bytes);
  auto report = repair(*open_without_index());
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.damaged_index_files.size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(index)) << "nothing removed";
  EXPECT_TRUE(restores(*open_repo(), snapshot, data)) << "the marked file is no longer loaded";
  EXPECT_TRUE(repair(*open_without_index()).clean()) << "and not reported again";
}

TEST_P(RepairTest, AWrongKeyIsNotTakenForDamageToEverything) {
  auto repo = make_repo(encrypted());
  write_file(path("disk.img"), random_data(40000, 12));
  backup(*repo);
  auto index_before = files_in("repo/index");
  if (encrypted()) {  // a wrong passphrase fails at unlocking, before any repair
    auto wrong = Repository::open_without_index(
        path("repo"), []() -> Result<std::string> { return std::string("wrong passphrase"); });
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().message().find("passphrase"), std::string::npos)
        << wrong.error().message();
    EXPECT_EQ(files_in("repo/index"), index_before);
    return;
  }
  write_file(path("repo/keys/auth"), std::vector<uint8_t>(64, '7'));
  auto wrong = open_without_index();
  ASSERT_TRUE(wrong);
  auto report = repair_repository(*wrong, false, 2, nullptr);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message().find("nothing changed"), std::string::npos)
      << report.error().message();
  EXPECT_EQ(files_in("repo/index"), index_before);
  EXPECT_FALSE(std::filesystem::exists(path("repo/index-damaged")));
}

TEST_P(RepairTest, StaleDamageMarksAreFoundAndCleared) {
  auto repo = make_repo(encrypted());
  auto data = random_data(40000, 13);
  write_file(path("disk.img"), data);
  Snapshot snapshot = backup(*repo);
  ASSERT_TRUE(repo->mark_damaged(snapshot.chunks[1]).value());  // a passing EIO, say
  repo = open_repo();
  EXPECT_FALSE(repo->holds_healthy(snapshot.chunks[1]));
  backup(*repo);  // stores the marked chunk again: two healthy copies
  ASSERT_EQ(files_in("repo/index").size(), 2u);
  auto report = repair(*repo);
  EXPECT_EQ(report.damage_marks, 1u);
  EXPECT_FALSE(report.clean());
  EXPECT_TRUE(report.ok());
  EXPECT_TRUE(repo->holds_healthy(snapshot.chunks[1])) << "read back whole: the mark is gone";
  EXPECT_EQ(files_in("repo/index").size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(path("repo/index-damaged")))
      << "a file naming a copy the new index does not need is superseded all the same";
  EXPECT_TRUE(repair(*repo).clean());
  EXPECT_TRUE(restores(*repo, snapshot, data));
}

TEST_P(RepairTest, AnErrnoThatSaysNothingOfTheDataStopsTheRepairBeforeAnyChange) {
  auto repo = make_repo(encrypted());
  write_file(path("disk.img"), random_data(40000, 8));
  backup(*repo);
  // A pack that reads as EISDIR (one of mode 0000 would do, but root reads those).
  std::string pack = files_in("repo/packs").at(0);
  std::filesystem::remove(pack);
  std::filesystem::create_directory(pack);
  auto index_before = files_in("repo/index");
  auto fresh = open_repo();
  auto report = repair_repository(*fresh, false, 2, nullptr);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message().find("nothing changed"), std::string::npos);
  EXPECT_EQ(files_in("repo/index"), index_before);
}

}  // namespace
}  // namespace haven::store
