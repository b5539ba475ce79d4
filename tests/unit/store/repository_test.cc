#include "store/repository.h"

#include <sys/stat.h>

#include "store_fixture.h"

namespace haven::store {
namespace {

using RepositoryTest = testing::StoreTest;

TEST_F(RepositoryTest, InitMakesTheLayoutAndRefusesNonEmptyDirectories) {
  ASSERT_TRUE(Repository::init(path("repo"), options(false)));
  for (const char* sub : {"config.json", "packs", "index", "snapshots", "tmp", "keys"})
    EXPECT_TRUE(std::filesystem::exists(path("repo") + "/" + sub)) << sub;
  auto again = Repository::init(path("repo"), options(false));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("not empty"), std::string::npos);
  std::filesystem::create_directory(path("empty"));
  EXPECT_TRUE(Repository::init(path("empty"), options(false))) << "an empty directory is fine";
  auto no_passphrase = Repository::init(path("other"), [] {
    auto init = options(true);
    init.passphrase.clear();
    return init;
  }());
  EXPECT_FALSE(no_passphrase);
}

TEST_F(RepositoryTest, InitRefusesASettingNoRepositoryMayHave) {
  InitOptions init = options(false);
  init.compression_level = 20;
  auto refused = Repository::init(path("repo"), init);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("compression level 20"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path("repo/config.json")));
}

TEST_F(RepositoryTest, OpeningSomethingElseSaysWhatIsWrong) {
  auto missing = Repository::open(path("nowhere"), nullptr);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("No such file"), std::string::npos);
  std::filesystem::create_directory(path("foreign"));
  auto foreign = Repository::open(path("foreign"), nullptr);
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().message().find("is not a Haven repository"), std::string::npos);
}

TEST_F(RepositoryTest, AnEncryptedRepositoryNeedsTheRightPassphrase) {
  ASSERT_TRUE(Repository::init(path("repo"), options(true)));
  auto wrong = Repository::open(path("repo"), []() -> Result<std::string> { return "nope"; });
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("wrong passphrase"), std::string::npos);
  auto none = Repository::open(path("repo"), nullptr);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("passphrase is needed"), std::string::npos);
  auto repo = open_repo();
  ASSERT_TRUE(repo);
  EXPECT_TRUE(repo->config().encrypted);
  auto data = random_data(100, 1);
  EXPECT_NE(repo->chunk_id(data), sha256(data)) << "ids are keyed";
}

TEST_F(RepositoryTest, OneWriterAtATimeAndStaleTemporariesAreRemoved) {
  auto repo = make_repo();
  write_file(path("repo/tmp/pack-left-by-a-crash"), {1, 2, 3});
  auto lock = repo->lock_for_writing();
  ASSERT_TRUE(lock) << lock.error().message();
  EXPECT_FALSE(std::filesystem::exists(path("repo/tmp/pack-left-by-a-crash")));
  auto second = open_repo();
  auto refused = second->lock_for_writing();
  ASSERT_FALSE(refused);
  EXPECT_NE(
      refused.error().message().find("locked by another writer (pid " + std::to_string(::getpid())),
      std::string::npos)
      << refused.error().message();
}

TEST_F(RepositoryTest, ChunksWrittenThroughPacksReadBackAfterReopening) {
  auto repo = make_repo(true);
  {
    auto lock = repo->lock_for_writing().value();
    ChunkWriter writer(*repo);
    for (uint32_t i = 0; i < 20; ++i) {
      auto data = random_data(4096, i);
      ChunkId id = repo->chunk_id(data);
      ASSERT_TRUE(writer.claim(id));
      EXPECT_FALSE(writer.claim(id)) << "claimed once";
      auto blob = encode_blob(repo->codec(), BlobKind::chunk, data, id.bytes).value();
      ASSERT_TRUE(writer.write(id, blob, 4096));
    }
    ASSERT_TRUE(writer.finish());
  }
  EXPECT_EQ(files_in("repo/packs").size(), 1u);
  EXPECT_EQ(files_in("repo/index").size(), 1u);
  auto reopened = open_repo();
  EXPECT_EQ(reopened->index().size(), 20u);
  for (uint32_t i = 0; i < 20; ++i) {
    auto data = random_data(4096, i);
    EXPECT_EQ(reopened->read_chunk(reopened->chunk_id(data)).value(), data);
  }
  auto data = random_data(4096, 7);
  std::vector<uint8_t> into(4096), wrong_size(4095);
  ASSERT_TRUE(reopened->read_chunk_into(reopened->chunk_id(data), into));
  EXPECT_EQ(into, data);
  auto refused = reopened->read_chunk_into(reopened->chunk_id(data), wrong_size);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("4095 expected"), std::string::npos);
  auto absent = reopened->read_chunk(sha256(std::vector<uint8_t>{1}));
  ASSERT_FALSE(absent);
  EXPECT_NE(absent.error().message().find("not in the repository"), std::string::npos);
}

TEST_F(RepositoryTest, SnapshotsAreFoundByUniquePrefix) {
  auto repo = make_repo();
  Snapshot first, second;
  first.name = "a";
  first.chunk_size = 4096;
  second = first;
  second.name = "b";
  second.time = 5;
  ASSERT_TRUE(repo->write_snapshot(first));
  ASSERT_TRUE(repo->write_snapshot(second));
  EXPECT_EQ(first.id.size(), 16u);
  EXPECT_EQ(repo->find_snapshot(first.id.substr(0, 8)).value().name, "a");
  auto ambiguous = repo->find_snapshot(first.id.substr(0, 0));
  EXPECT_FALSE(ambiguous);
  auto missing = repo->find_snapshot("zzzz");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("no snapshot zzzz"), std::string::npos);
  auto listed = repo->list_snapshots().value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "a") << "oldest first";
}

}  // namespace
}  // namespace haven::store
