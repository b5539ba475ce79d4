// Format compatibility: repositories that earlier Haven versions wrote, checked in under
// tests/data/reference-repos/ (its README says which version made each and how). Every later
// version must list, restore and verify them exactly, and keep adding snapshots to them. A
// change to the format that breaks this test breaks every user's existing backups: add a new
// format version instead, and a reference repository for it.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "store/backup.h"
#include "store/crypto.h"
#include "store/restore.h"
#include "store/verify.h"
#include "store_fixture.h"

namespace haven::store {
namespace {

struct Reference {
  const char* name;  // its folder under tests/data/reference-repos
  int version;
  bool encrypted;
};
void PrintTo(const Reference& reference, std::ostream* out) {
  *out << reference.name;
}

// Both reference repositories hold the same two snapshots, named "reference": disk-1.img and
// disk-2.img (256 KiB each, 4 KiB chunks; disk-2 tagged "second"), made by the README's script.
constexpr uint64_t kDiskBytes = 256 * 1024;
constexpr const char* kDisk1Sha256 =
    "e17a9c1982780e904819c834969416aaa6a1bbbd2922ba4124e19f6c4a2d51d8";
constexpr const char* kDisk2Sha256 =
    "be045e1c579ab02a55a9b50e28c02bd472788fdda7053c3d5c7756a27d6f32b2";
constexpr const char* kPassphrase = "reference passphrase";

class ReferenceRepositoryTest : public testing::StoreTest,
                                public ::testing::WithParamInterface<Reference> {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    // A copy: opening takes the writer lock, and the test adds a snapshot.
    std::string source =
        std::string(HAVEN_SOURCE_DIR) + "/tests/data/reference-repos/" + GetParam().name;
    ASSERT_TRUE(std::filesystem::is_directory(source)) << source;
    std::filesystem::copy(source, path("repo"), std::filesystem::copy_options::recursive);
    // As a fresh clone has it: git keeps no empty folder (tmp/, a plain repository's keys/).
    std::vector<std::filesystem::path> empty;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path("repo")))
      if (entry.is_directory() && std::filesystem::is_empty(entry.path()))
        empty.push_back(entry.path());
    for (const auto& folder : empty) std::filesystem::remove(folder);
    // Git keeps no file modes: give the secrets theirs back, as a real repository has them.
    for (const char* secret : {"keys/auth", "keys/main.json"}) {
      if (std::filesystem::exists(path("repo/") + secret)) {
        ASSERT_EQ(::chmod((path("repo/") + secret).c_str(), 0600), 0);
      }
    }
  }

  std::string restored_sha256(Repository& repo, const Snapshot& snapshot) {
    std::string target = path("restored-" + snapshot.id + ".img");
    auto restored = restore_snapshot(repo, snapshot, {target, 2, true, nullptr});
    EXPECT_TRUE(restored) << restored.error().message();
    return restored ? sha256(read_file(target)).hex() : "";
  }
};

TEST_P(ReferenceRepositoryTest, ListsRestoresAndVerifiesWhatAnEarlierVersionWrote) {
  auto repo = open_repo(kPassphrase);
  ASSERT_NE(repo, nullptr);
  EXPECT_EQ(repo->config().version, GetParam().version);
  EXPECT_EQ(repo->config().encrypted, GetParam().encrypted);
  std::vector<std::string> problems;
  auto snapshots = repo->list_snapshots(&problems);
  ASSERT_TRUE(snapshots) << snapshots.error().message();
  EXPECT_TRUE(problems.empty()) << problems.front();
  ASSERT_EQ(snapshots->size(), 2u);
  int seen = 0;
  for (const Snapshot& snapshot : *snapshots) {
    EXPECT_EQ(snapshot.name, "reference");
    EXPECT_EQ(snapshot.size, kDiskBytes);
    EXPECT_EQ(snapshot.chunk_size, 4096u);
    bool second = snapshot.tags == std::vector<std::string>{"second"};
    EXPECT_TRUE(second || snapshot.tags.empty()) << snapshot.id;
    EXPECT_EQ(snapshot.source.ends_with(second ? "disk-2.img" : "disk-1.img"), true)
        << snapshot.source;
    EXPECT_EQ(restored_sha256(*repo, snapshot), second ? kDisk2Sha256 : kDisk1Sha256)
        << "snapshot " << snapshot.id;
    seen |= second ? 2 : 1;
  }
  EXPECT_EQ(seen, 3) << "one snapshot of each disk";
  auto report = verify_snapshots(*repo, {}, 2, nullptr);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->snapshots, 2u);
  EXPECT_GT(report->chunks_checked, 0u);
}

TEST_P(ReferenceRepositoryTest, TakesNewSnapshotsThatShareItsOldData) {
  auto repo = open_repo(kPassphrase);
  ASSERT_NE(repo, nullptr);
  auto snapshots = repo->list_snapshots().value();
  ASSERT_EQ(snapshots.size(), 2u);
  // disk-2's bytes again, from its restore: a backup of them stores no new chunk.
  const Snapshot& second = snapshots[0].tags.empty() ? snapshots[1] : snapshots[0];
  ASSERT_EQ(restored_sha256(*repo, second), kDisk2Sha256);
  std::string image = path("restored-" + second.id + ".img");
  BackupOptions options;
  options.source = image;
  options.name = "reference";
  options.threads = 2;
  auto added = backup_image(*repo, options);
  ASSERT_TRUE(added) << added.error().message();
  EXPECT_EQ(added->new_bytes, 0u) << "every chunk was in the repository already";

  auto reopened = open_repo(kPassphrase);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->config().version, GetParam().version) << "the format stays the same";
  auto snapshot = reopened->find_snapshot(added->id);
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  EXPECT_EQ(restored_sha256(*reopened, *snapshot), kDisk2Sha256);
  auto report = verify_snapshots(*reopened, {}, 2, nullptr);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->snapshots, 3u);
}

TEST_P(ReferenceRepositoryTest, TakesNewDataInItsOwnFormat) {
  auto repo = open_repo(kPassphrase);
  ASSERT_NE(repo, nullptr);
  auto disk = random_data(kDiskBytes, 20);
  write_file(path("new.img"), disk);
  BackupOptions options;
  options.source = path("new.img");
  options.name = "new";
  options.threads = 2;
  auto added = backup_image(*repo, options);
  ASSERT_TRUE(added) << added.error().message();
  EXPECT_GT(added->new_bytes, 0u);
  auto reopened = open_repo(kPassphrase);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->config().version, GetParam().version);
  auto snapshot = reopened->find_snapshot(added->id);
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  EXPECT_EQ(restored_sha256(*reopened, *snapshot), sha256(disk).hex());
  auto report = verify_snapshots(*reopened, {}, 2, nullptr);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->snapshots, 3u);
}

INSTANTIATE_TEST_SUITE_P(
    EveryFormat, ReferenceRepositoryTest,
    ::testing::Values(Reference{"v1-plain", 1, false}, Reference{"v1-encrypted", 1, true},
                      Reference{"v2-plain", 2, false}, Reference{"v2-encrypted", 2, true},
                      Reference{"v3-plain", 3, false}, Reference{"v3-encrypted", 3, true}),
    [](const ::testing::TestParamInfo<Reference>& param) {
      std::string name = param.param.name;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

}  // namespace
}  // namespace haven::store
