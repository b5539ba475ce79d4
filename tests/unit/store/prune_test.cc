#include "store/prune.h"

#include <ctime>
#include <filesystem>

#include "store/backup.h"
#include "store/diff.h"
#include "store/restore.h"
#include "store/snapshot_hold.h"
#include "store/verify.h"
#include "store_fixture.h"
#include "support/host_probes.h"

namespace haven::store {
namespace {

constexpr int64_t kHour = 3600, kDay = 24 * kHour;
constexpr int64_t kMonday = 1795392000;  // 2026-11-23 00:00 UTC, a Monday

Snapshot at(int64_t time, std::string name = "vm1") {
  Snapshot snapshot;
  snapshot.id = std::to_string(time);
  snapshot.name = std::move(name);
  snapshot.time = time;
  return snapshot;
}

std::vector<std::string> ids(const std::vector<Snapshot>& snapshots) {
  std::vector<std::string> out;
  for (const auto& snapshot : snapshots) out.push_back(snapshot.id);
  return out;
}

TEST(PruneRules, KeepLastKeepsTheNewest) {
  auto decision = decide_prune({at(1), at(3), at(2), at(4)}, {.last = 2});
  EXPECT_EQ(ids(decision.keep), (std::vector<std::string>{"4", "3"}));
  EXPECT_EQ(ids(decision.remove), (std::vector<std::string>{"2", "1"}));
  EXPECT_EQ(decision.reasons[0], "last");
}

TEST(PruneRules, DailyKeepsTheNewestOfEachDay) {
  // Three a day for four days.
  std::vector<Snapshot> snapshots;
  for (int day = 0; day < 4; ++day)
    for (int hour : {1, 9, 17}) snapshots.push_back(at(kMonday + day * kDay + hour * kHour));
  auto decision = decide_prune(snapshots, {.daily = 3});
  ASSERT_EQ(decision.keep.size(), 3u);
  for (int day = 0; day < 3; ++day)
    EXPECT_EQ(decision.keep[day].time, kMonday + (3 - day) * kDay + 17 * kHour);
  EXPECT_EQ(decision.reasons[0], "daily 2026-11-26");
  EXPECT_EQ(decision.remove.size(), 9u);
}

TEST(PruneRules, RulesAddUpAndWeeksAreIsoWeeks) {
  std::vector<Snapshot> snapshots;
  for (int day = 0; day < 21; ++day) snapshots.push_back(at(kMonday - 7 * kDay + day * kDay));
  auto decision = decide_prune(snapshots, {.last = 1, .weekly = 3});
  // The newest (a Sunday, also the newest of its week) and the Sundays of the two weeks before.
  ASSERT_EQ(decision.keep.size(), 3u);
  EXPECT_EQ(decision.reasons[0], "last, weekly 2026-W49");
  EXPECT_EQ(decision.reasons[1], "weekly 2026-W48");
  EXPECT_EQ(decision.reasons[2], "weekly 2026-W47");
}

TEST(PruneRules, HourlyMonthlyAndYearlyKeepTheNewestOfEachPeriod) {
  // Every 20 minutes for 3 hours; then the 1st and 15th of each month for two years.
  std::vector<Snapshot> recent;
  for (int minute = 0; minute < 180; minute += 20) recent.push_back(at(kMonday + minute * 60));
  auto hourly = decide_prune(recent, {.hourly = 2});
  ASSERT_EQ(hourly.keep.size(), 2u);
  EXPECT_EQ(hourly.keep[0].time, kMonday + 160 * 60);  // 02:40, the newest of 02:00-02:59
  EXPECT_EQ(hourly.keep[1].time, kMonday + 100 * 60);  // 01:40
  EXPECT_EQ(hourly.reasons[0], "hourly 2026-11-23 02:00");
  EXPECT_EQ(hourly.reasons[1], "hourly 2026-11-23 01:00");
  EXPECT_EQ(hourly.remove.size(), recent.size() - 2);

  std::vector<Snapshot> history;
  for (int year : {2025, 2026}) {
    for (int month = 1; month <= 11; ++month) {
      for (int day : {1, 15}) {
        std::tm date{};
        date.tm_year = year - 1900;
        date.tm_mon = month - 1;
        date.tm_mday = day;
        history.push_back(at(::timegm(&date)));
      }
    }
  }
  auto monthly = decide_prune(history, {.monthly = 3});
  ASSERT_EQ(monthly.keep.size(), 3u);
  EXPECT_EQ(monthly.reasons[0], "monthly 2026-11");
  EXPECT_EQ(monthly.reasons[2], "monthly 2026-09");
  for (const Snapshot& kept : monthly.keep) {
    std::time_t time = kept.time;
    std::tm utc{};
    ::gmtime_r(&time, &utc);
    EXPECT_EQ(utc.tm_mday, 15) << "the newest of its month";
  }
  auto yearly = decide_prune(history, {.yearly = 5});
  ASSERT_EQ(yearly.keep.size(), 2u) << "only two years exist";
  EXPECT_EQ(yearly.reasons[0], "yearly 2026");
  EXPECT_EQ(yearly.reasons[1], "yearly 2025");
  EXPECT_EQ(yearly.keep[1].time, history[21].time) << "2025-11-15, the newest of 2025";
  auto none = decide_prune(history, {});
  EXPECT_TRUE(none.keep.empty()) << "no rule keeps nothing (the CLI refuses that itself)";
}

TEST(PruneRules, EachNameIsItsOwnGroup) {
  auto decision = decide_prune({at(1, "a"), at(2, "a"), at(3, "b"), at(4, "b")}, {.last = 1});
  EXPECT_EQ(ids(decision.keep), (std::vector<std::string>{"4", "2"}));
  EXPECT_EQ(ids(decision.remove), (std::vector<std::string>{"3", "1"}));
}

class PruneTest : public testing::StoreTest {
 protected:
  Snapshot backup(Repository& repo, const std::vector<uint8_t>& disk, const std::string& name) {
    write_file(path("disk.img"), disk);
    return backup_image(repo, {path("disk.img"), name, {}, 2, nullptr}).value();
  }
};

TEST_F(PruneTest, RemovingASnapshotFreesOnlyWhatNoOtherUses) {
  auto repo = make_repo(true);
  auto shared = random_data(32 * 4096, 1);
  auto first_disk = shared, second_disk = shared;
  auto extra = random_data(32 * 4096, 2);
  first_disk.insert(first_disk.end(), extra.begin(), extra.end());  // 32 chunks only it has
  Snapshot first = backup(*repo, first_disk, "first");
  Snapshot second = backup(*repo, second_disk, "second");
  auto before = files_in("repo/packs");

  auto dry = prune_snapshots(*repo, {first.id}, true).value();
  EXPECT_EQ(dry.snapshots_removed, 1u);
  EXPECT_EQ(files_in("repo/packs"), before) << "a dry run changes nothing";
  EXPECT_EQ(repo->list_snapshots().value().size(), 2u);

  auto report = prune_snapshots(*repo, {first.id}, false).value();
  EXPECT_EQ(report.packs_rewritten, 1u) << "half of the one pack is garbage";
  EXPECT_EQ(report.bytes_rewritten, 32u * 4096 + 32u * (kBlobHeaderBytes + kSealOverhead))
      << "the 32 shared chunks, random so stored uncompressed";
  auto reopened = open_repo();
  EXPECT_EQ(reopened->index().size(), 32u);
  EXPECT_EQ(files_in("repo/index").size(), 1u);
  ASSERT_EQ(reopened->list_snapshots().value().size(), 1u);
  EXPECT_TRUE(verify_snapshots(*reopened, {}, 2, nullptr).value().ok());
  ASSERT_TRUE(restore_snapshot(*reopened, second, {path("out.img"), 2, false, nullptr}));
  EXPECT_EQ(read_file(path("out.img")), second_disk);
  // Backing up the removed data again stores it again.
  Snapshot again = backup(*reopened, first_disk, "first");
  EXPECT_EQ(again.new_bytes, 32u * 4096);
}

TEST_F(PruneTest, AnUnreadableSnapshotStopsThePruneBeforeAnythingGoes) {
  auto repo = make_repo(false);
  Snapshot first = backup(*repo, random_data(16 * 4096, 5), "vm");
  Snapshot second = backup(*repo, random_data(16 * 4096, 6), "vm");
  auto packs = files_in("repo/packs");
  write_file(path("repo/snapshots/" + second.id), {'n', 'o', 'p', 'e'});
  auto pruned = prune_snapshots(*repo, {first.id}, false);
  ASSERT_FALSE(pruned);
  EXPECT_NE(pruned.error().message().find("unreadable snapshot"), std::string::npos)
      << pruned.error().message();
  EXPECT_EQ(files_in("repo/packs"), packs) << "its chunks could have been taken for garbage";
  EXPECT_TRUE(std::filesystem::exists(path("repo/snapshots/" + first.id)));
}

TEST_F(PruneTest, UnknownSnapshotIdsAreRefusedAndNothingIsRemoved) {
  auto repo = make_repo(false);
  Snapshot kept = backup(*repo, random_data(16 * 4096, 7), "vm");
  auto packs = files_in("repo/packs");
  auto pruned = prune_snapshots(*repo, {kept.id, "0123456789abcdef"}, false);
  ASSERT_FALSE(pruned);
  EXPECT_NE(pruned.error().message().find("not in"), std::string::npos) << pruned.error().message();
  EXPECT_TRUE(std::filesystem::exists(path("repo/snapshots/" + kept.id)));
  EXPECT_EQ(files_in("repo/packs"), packs);
}

// A pack with a little garbage (here one chunk of ten) is cheaper to keep than to rewrite; the
// snapshot left using it still restores and verifies.
TEST_F(PruneTest, APackWithLittleGarbageIsKeptAsItIs) {
  auto repo = make_repo(false);
  auto disk = random_data(10 * 4096, 8);
  Snapshot whole = backup(*repo, disk, "a");
  auto most = std::vector<uint8_t>(disk.begin(), disk.begin() + 9 * 4096);
  Snapshot kept = backup(*repo, most, "b");
  auto packs = files_in("repo/packs");
  ASSERT_EQ(packs.size(), 1u) << "the second backup added no chunk";
  auto report = prune_snapshots(*repo, {whole.id}, false);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->snapshots_removed, 1u);
  EXPECT_EQ(report->packs_rewritten, 0u);
  EXPECT_EQ(report->packs_removed, 0u);
  EXPECT_EQ(files_in("repo/packs"), packs);
  auto reopened = open_repo();
  auto restored = restore_snapshot(*reopened, reopened->find_snapshot(kept.id).value(),
                                   {path("restored.img"), 2, true, nullptr});
  ASSERT_TRUE(restored) << restored.error().message();
  EXPECT_EQ(read_file(path("restored.img")), most);
  EXPECT_TRUE(verify_snapshots(*reopened, {}, 2, nullptr).value().ok());
}

TEST_F(PruneTest, PacksNoIndexNamesAreCollected) {
  auto repo = make_repo();
  Snapshot kept = backup(*repo, random_data(8 * 4096, 3), "vm");
  std::filesystem::create_directories(path("repo/packs/ff"));
  write_file(path("repo/packs/ff/ffffffffffffffffffffffffffffffff"), {1, 2, 3});
  auto report = prune_snapshots(*repo, {}, false).value();
  EXPECT_EQ(report.packs_removed, 1u);
  EXPECT_FALSE(std::filesystem::exists(path("repo/packs/ff/ffffffffffffffffffffffffffffffff")));
  EXPECT_TRUE(verify_snapshots(*open_repo(), {}, 2, nullptr).value().ok());
}

TEST_F(PruneTest, HoldsAreReadBackReplacedAndRemoved) {
  auto repo = make_repo();
  EXPECT_TRUE(read_holds(*repo).value().empty()) << "no holds directory is no holds";
  std::string a = backup(*repo, random_data(4 * 4096, 6), "a").id;
  std::string b = backup(*repo, random_data(4 * 4096, 7), "b").id;
  if (b < a) std::swap(a, b);  // read back in file name order
  SnapshotHold first{.snapshot = a,
                     .image = "/disks/web/disk-0.img",
                     .holder = "web",
                     .host = this_host(),
                     .time = 7,
                     .file = {}};
  SnapshotHold second{.snapshot = b,
                      .image = "/disks/db/disk-0.img",
                      .holder = "db",
                      .host = "elsewhere",
                      .time = 8,
                      .file = {}};
  ASSERT_TRUE(write_hold(*repo, first));
  ASSERT_TRUE(write_hold(*repo, second));
  first.holder = "web, again";
  ASSERT_TRUE(write_hold(*repo, first)) << "the same snapshot, host and image: replaced";
  auto holds = read_holds(*repo).value();
  ASSERT_EQ(holds.size(), 2u);
  EXPECT_EQ(holds[0].snapshot, a);
  EXPECT_EQ(holds[0].image, "/disks/web/disk-0.img");
  EXPECT_EQ(holds[0].holder, "web, again");
  EXPECT_EQ(holds[0].host, this_host());
  EXPECT_EQ(holds[0].time, 7);
  EXPECT_EQ(holds[0].file, first.file);
  EXPECT_EQ(holds[1].host, "elsewhere");
  // The same snapshot and image path on another host is another restore: its own hold.
  SnapshotHold twin = first;
  twin.host = "twin";
  ASSERT_TRUE(write_hold(*repo, twin));
  EXPECT_NE(twin.file, first.file);
  EXPECT_EQ(read_holds(*repo).value().size(), 3u);
  ASSERT_TRUE(remove_hold(twin));
  ASSERT_TRUE(remove_hold(holds[0]));
  ASSERT_TRUE(remove_hold(holds[0])) << "a hold already gone";
  ASSERT_EQ(read_holds(*repo).value().size(), 1u);
  write_file(path("repo/holds/cccc.0.json"), {'{', 'x'});
  auto damaged = read_holds(*repo);
  ASSERT_FALSE(damaged);
  EXPECT_NE(damaged.error().message().find("cccc.0.json"), std::string::npos);
}

TEST_F(PruneTest, NoHoldOnASnapshotAPruneRemoved) {
  auto repo = make_repo();
  SnapshotHold hold{.snapshot = "0123abcd",
                    .image = "/disks/late/disk-0.img",
                    .holder = "late",
                    .host = this_host(),
                    .time = 1,
                    .file = {}};
  auto refused = write_hold(*repo, hold);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ENOENT) << refused.error().message();
  EXPECT_TRUE(read_holds(*repo).value().empty()) << "the hold it wrote is taken back";
}

TEST_F(PruneTest, AHeldSnapshotStopsThePrune) {
  auto repo = make_repo();
  Snapshot old = backup(*repo, random_data(8 * 4096, 4), "vm");
  backup(*repo, random_data(8 * 4096, 5), "vm");
  SnapshotHold hold{.snapshot = old.id,
                    .image = "/disks/new/disk-0.img",
                    .holder = "instant restore of guest 'new'",
                    .host = this_host(),
                    .time = 1,
                    .file = {}};
  ASSERT_TRUE(write_hold(*repo, hold));
  auto refused = prune_snapshots(*repo, {old.id}, false);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("instant restore of guest 'new'"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(repo->list_snapshots().value().size(), 2u);
  ASSERT_TRUE(remove_hold(hold));
  ASSERT_TRUE(prune_snapshots(*repo, {old.id}, false));
  EXPECT_EQ(repo->list_snapshots().value().size(), 1u);
}

TEST_F(PruneTest, HeldSnapshotsAreKeptInPlaceAndEndedHoldsGo) {
  auto repo = make_repo();
  Snapshot oldest = backup(*repo, random_data(8 * 4096, 11), "vm");
  Snapshot middle = backup(*repo, random_data(8 * 4096, 12), "vm");
  Snapshot newest = backup(*repo, random_data(8 * 4096, 13), "vm");
  oldest.time = 1, middle.time = 2, newest.time = 3;
  SnapshotHold filling{.snapshot = oldest.id,
                       .image = "/disks/a.img",
                       .holder = "instant a",
                       .host = this_host(),
                       .time = 1,
                       .file = {}};
  SnapshotHold remote{.snapshot = middle.id,
                      .image = "/disks/b.img",
                      .holder = "instant b",
                      .host = "elsewhere",
                      .time = 1,
                      .file = {}};
  SnapshotHold ended{.snapshot = middle.id,
                     .image = "/disks/done.img",
                     .holder = "done",
                     .host = this_host(),
                     .time = 1,
                     .file = {}};
  for (SnapshotHold* hold : {&filling, &remote, &ended}) ASSERT_TRUE(write_hold(*repo, *hold));
  auto still_filling = [](const std::string& image) { return image == "/disks/a.img"; };
  auto decide = [&] {
    PruneDecision decision;
    decision.keep = {newest};
    decision.reasons = {"last"};
    decision.remove = {middle, oldest};
    return decision;
  };

  PruneDecision dry = decide();
  ASSERT_TRUE(keep_held_snapshots(*repo, dry, true, still_filling));
  EXPECT_EQ(read_holds(*repo).value().size(), 3u) << "a dry run removes no hold";

  PruneDecision decision = decide();
  ASSERT_TRUE(keep_held_snapshots(*repo, decision, false, still_filling));
  EXPECT_TRUE(decision.remove.empty());
  ASSERT_EQ(decision.keep.size(), 3u);
  EXPECT_EQ(decision.keep[1].id, middle.id) << "newest first";
  EXPECT_EQ(decision.keep[2].id, oldest.id);
  EXPECT_EQ(decision.reasons[1], fmt::format("held: instant b on elsewhere (remove {} once it is "
                                             "over)",
                                             remote.file));
  EXPECT_EQ(decision.reasons[2], "held: instant a");
  EXPECT_EQ(read_holds(*repo).value().size(), 2u) << "the ended hold is gone";
}

TEST_F(PruneTest, AnAppendOnlyRepositoryRefuses) {
  auto init = options(false);
  init.append_only = true;
  ASSERT_TRUE(Repository::init(path("repo"), init));
  auto repo = open_repo();
  Snapshot snapshot = backup(*repo, random_data(4096, 4), "vm");
  auto refused = prune_snapshots(*repo, {snapshot.id}, false);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("append-only"), std::string::npos);
  EXPECT_EQ(repo->list_snapshots().value().size(), 1u);
  // Garbage (a pack no index names) is not collected either.
  std::filesystem::create_directories(path("repo/packs/ff"));
  write_file(path("repo/packs/ff/ffffffffffffffffffffffffffffffff"), {1, 2, 3});
  EXPECT_EQ(prune_snapshots(*repo, {}, true).value().packs_removed, 1u) << "a dry run tells";
  EXPECT_FALSE(prune_snapshots(*repo, {}, false));
  EXPECT_TRUE(std::filesystem::exists(path("repo/packs/ff/ffffffffffffffffffffffffffffffff")));
}

// Where the file system and privileges allow (root on ext4, as in CI), everything an
// append-only repository commits is immutable: not even root's rm removes it.
TEST_F(PruneTest, AnAppendOnlyRepositoryMakesWhatItCommitsImmutable) {
  write_file(path("probe"), {1});
  auto probe = sys::set_immutable(path("probe"), true);
  ASSERT_TRUE(probe) << probe.error().message();
  if (!*probe) {
    ASSERT_FALSE(haven::testing::host_allows_immutable(path("probe")))
        << "this host allows chattr +i, sys::set_immutable said it does not";
    GTEST_SKIP() << "chattr +i is not allowed here (needs CAP_LINUX_IMMUTABLE)";
  }
  auto init = options(true);
  init.append_only = true;
  ASSERT_TRUE(Repository::init(path("repo"), init));
  auto repo = open_repo();
  backup(*repo, random_data(8 * 4096, 4), "vm");
  std::vector<std::string> committed;
  for (const char* sub : {"repo/snapshots", "repo/index", "repo/packs", "repo/keys"})
    for (const std::string& file : files_in(sub)) committed.push_back(file);
  committed.push_back(path("repo/config.json"));
  ASSERT_GE(committed.size(), 5u);
  for (const std::string& file : committed) {
    EXPECT_TRUE(sys::is_immutable(file)) << file;
    EXPECT_NE(::unlink(file.c_str()), 0) << file << " could be removed";
  }
  // A plain repository's files stay ordinary.
  ASSERT_TRUE(Repository::init(path("plain"), options(false)));
  EXPECT_FALSE(sys::is_immutable(path("plain/config.json")));
}

TEST_F(PruneTest, DiffFindsTheChangedRanges) {
  auto repo = make_repo();
  auto disk = random_data(16 * 4096, 5);
  Snapshot first = backup(*repo, disk, "vm");
  for (size_t i : {size_t{3}, size_t{4}, size_t{10}}) disk[i * 4096 + 7] ^= 1;
  Snapshot second = backup(*repo, disk, "vm");
  auto diff = diff_snapshots(first, second).value();
  ASSERT_EQ(diff.changed.size(), 2u);
  EXPECT_EQ(diff.changed[0].offset, 3u * 4096);
  EXPECT_EQ(diff.changed[0].length, 2u * 4096);
  EXPECT_EQ(diff.changed[1].offset, 10u * 4096);
  EXPECT_EQ(diff.changed_bytes, 3u * 4096);
}

}  // namespace
}  // namespace haven::store
