// Boot-verification records: sealed and bound to their snapshot in an encrypted repository,
// older plain-text records trusted only where nothing is sealed.

#include "store/boot_record.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "store_fixture.h"

namespace haven::store {
namespace {

class BootRecordTest : public testing::StoreTest {
 protected:
  static BootRecord record(const std::string& snapshot, bool passed) {
    BootRecord made;
    made.snapshot = snapshot;
    made.time = 1795720000;
    made.passed = passed;
    made.ready = "login:";
    made.seconds = 4.5;
    made.reason = passed ? "" : "no login prompt within 60 s";
    made.transcript = "secret console output\nlogin: ";
    return made;
  }
  std::string snapshot_a = std::string(64, 'a');
  std::string snapshot_b = std::string(64, 'b');
};

TEST_F(BootRecordTest, AnEncryptedRepositorysRecordIsSealedPrivateAndBoundToItsSnapshot) {
  auto repo = make_repo(true);
  ASSERT_TRUE(repo);
  ASSERT_TRUE(write_boot_record(*repo, record(snapshot_a, true)));
  auto read = read_boot_record(*repo, snapshot_a);
  ASSERT_TRUE(read) << read.error().message();
  ASSERT_TRUE(*read);
  EXPECT_TRUE((*read)->passed);
  EXPECT_EQ((*read)->transcript, "secret console output\nlogin: ");
  std::string file = path("repo/verify/" + snapshot_a);
  auto bytes = read_file(file);
  std::string text(bytes.begin(), bytes.end());
  EXPECT_EQ(text.find("secret"), std::string::npos) << "the transcript is readable";
  EXPECT_EQ(text.find("passed"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A passing record copied over another snapshot's (or forged) is not taken.
  std::filesystem::copy_file(file, path("repo/verify/" + snapshot_b));
  EXPECT_FALSE(read_boot_record(*repo, snapshot_b));
  bytes[bytes.size() / 2] ^= 1;
  write_file(file, bytes);
  EXPECT_FALSE(read_boot_record(*repo, snapshot_a));
}

TEST_F(BootRecordTest, APlainTextRecordCountsOnlyWhereNothingIsSealedOrTagged) {
  const std::string legacy = R"({"snapshot": "SNAP", "time": 1, "passed": true})";
  auto plant = [&](const std::string& snapshot) {
    std::filesystem::create_directories(path("repo/verify"));
    std::string text = legacy;
    text.replace(text.find("SNAP"), 4, snapshot);
    std::ofstream(path("repo/verify/" + snapshot + ".json")) << text;
  };
  {
    InitOptions old = options(false);
    old.version = 2;  // an older Haven's repository, where such records were written
    ASSERT_TRUE(Repository::init(path("repo"), old));
    auto plain = open_repo();
    ASSERT_TRUE(plain);
    plant(snapshot_a);
    auto read = read_boot_record(*plain, snapshot_a);
    ASSERT_TRUE(read) << read.error().message();
    ASSERT_TRUE(*read);
    EXPECT_TRUE((*read)->passed);
    // A new record replaces it.
    ASSERT_TRUE(write_boot_record(*plain, record(snapshot_a, false)));
    EXPECT_FALSE(std::filesystem::exists(path("repo/verify/" + snapshot_a + ".json")));
    EXPECT_FALSE((*read_boot_record(*plain, snapshot_a))->passed);
    remove_boot_record(*plain, snapshot_a);
    EXPECT_FALSE(*read_boot_record(*plain, snapshot_a));
  }
  for (bool encrypt : {true, false}) {  // sealed, or tagged (version 3)
    std::filesystem::remove_all(path("repo"));
    auto sealed = make_repo(encrypt);
    ASSERT_TRUE(sealed);
    plant(snapshot_b);
    auto read = read_boot_record(*sealed, snapshot_b);
    ASSERT_TRUE(read) << read.error().message();
    EXPECT_FALSE(*read) << "anyone could have written it";
  }
}

}  // namespace
}  // namespace haven::store
