#include "store/repository.h"

#include <sys/stat.h>

#include <filesystem>

#include "base/bytes.h"
#include "store/crypto.h"
#include "store/manifest_file.h"
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

// A link in place of a repository's lock or tmp/ would have its writer (havend, as root)
// truncate or empty what it points at.
TEST_F(RepositoryTest, ARepositoryWithALinkInItIsRefused) {
  for (const char* entry : {"lock", "tmp", "packs", "holds.lock"}) {
    SCOPED_TRACE(entry);
    std::filesystem::remove_all(path("repo"));
    std::filesystem::remove_all(path("victim"));
    ASSERT_TRUE(Repository::init(path("repo"), options(false)));
    std::filesystem::create_directory(path("victim"));
    write_file(path("victim/precious"), {1, 2, 3});
    std::filesystem::remove_all(path("repo/") + entry);
    bool directory =
        std::string(entry).find('.') == std::string::npos && entry != std::string("lock");
    std::filesystem::create_symlink(directory ? path("victim") : path("victim/precious"),
                                    path("repo/") + entry);
    auto opened = Repository::open(path("repo"), nullptr);
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().message().find("is a symbolic link"), std::string::npos)
        << opened.error().message();
    EXPECT_EQ(std::filesystem::file_size(path("victim/precious")), 3u);
  }
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

// A repository of format version 1 (made by an older Haven): this one reads it and keeps
// writing one-piece manifests there, so the older Haven can still read what it adds.
TEST_F(RepositoryTest, AVersion1RepositoryKeepsItsManifestLayout) {
  for (bool encrypt : {false, true}) {
    SCOPED_TRACE(encrypt);
    std::filesystem::remove_all(path("repo"));
    InitOptions init = options(encrypt);
    init.version = 1;
    ASSERT_TRUE(Repository::init(path("repo"), init));
    auto repo = open_repo();
    ASSERT_TRUE(repo);
    EXPECT_EQ(repo->config().version, 1);
    Snapshot snapshot;
    snapshot.name = "old";
    snapshot.size = 3 * 4096;
    snapshot.chunk_size = 4096;
    snapshot.chunks.resize(3);
    snapshot.chunks[1].bytes.fill(4);
    snapshot.source_file = SourceFile{
        .device = 1, .inode = 2, .size = 3 * 4096, .mtime_ns = 4, .ctime_ns = 5, .seen_ns = 6};
    ASSERT_TRUE(repo->write_snapshot(snapshot));
    auto file = read_file(path("repo/snapshots/" + snapshot.id));
    EXPECT_EQ(file.at(0), kBlobMagic) << "one blob, as version 1 wrote it";
    EXPECT_EQ(repo->read_snapshot(snapshot.id).value().chunks, snapshot.chunks);
    auto head = repo->find_snapshot_head(snapshot.id.substr(0, 6));
    ASSERT_TRUE(head) << head.error().message();
    EXPECT_EQ(head->zero_chunks, 2u);
    ASSERT_TRUE(head->source_file);
    EXPECT_TRUE(head->source_file->same_file(*snapshot.source_file));
    EXPECT_EQ(head->source_file->seen_ns, 6);
  }
}

// In version 2 the head is read without the ids: damage to the ids leaves listing and heads
// working and fails only what needs the ids, naming the snapshot.
TEST_F(RepositoryTest, AHeadIsReadWithoutTheChunkIds) {
  for (bool encrypt : {false, true}) {
    SCOPED_TRACE(encrypt);
    std::filesystem::remove_all(path("repo"));
    auto repo = make_repo(encrypt);
    Snapshot snapshot;
    snapshot.name = "big";
    snapshot.size = 20000 * 4096;
    snapshot.chunk_size = 4096;
    snapshot.chunks.resize(20000);
    for (uint32_t i = 0; i < snapshot.chunks.size(); ++i)
      snapshot.chunks[i] = sha256(bytes_of(std::to_string(i)));
    ASSERT_TRUE(repo->write_snapshot(snapshot));
    std::string file = path("repo/snapshots/" + snapshot.id);
    auto bytes = read_file(file);
    ASSERT_GT(bytes.size(), 20000u * 32) << "the ids are in the file";
    bytes[bytes.size() - 40] ^= 0xff;  // inside the ids (sealed, or stored: random ids do not
                                       // compress)
    write_file(file, bytes);
    auto head = repo->read_snapshot_head(snapshot.id);
    ASSERT_TRUE(head) << head.error().message();
    EXPECT_EQ(head->name, "big");
    EXPECT_EQ(head->chunk_count(), 20000u);
    EXPECT_EQ(repo->list_snapshot_heads().value().size(), 1u);
    auto whole = repo->read_snapshot(snapshot.id);
    ASSERT_FALSE(whole);
    EXPECT_NE(whole.error().message().find("snapshot " + snapshot.id), std::string::npos)
        << whole.error().message();
    std::vector<std::string> problems;
    EXPECT_TRUE(repo->list_snapshots(&problems).value().empty());
    EXPECT_EQ(problems.size(), 1u);
  }
}

// Version 3: an unencrypted repository authenticates its metadata under keys/auth.
TEST_F(RepositoryTest, AnUnencryptedRepositoryRefusesAForgedManifest) {
  auto repo = make_repo(false);
  EXPECT_EQ(repo->config().version, kRepoVersion);
  struct stat info {};
  ASSERT_EQ(::stat(path("repo/keys/auth").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  Snapshot snapshot;
  snapshot.name = "vm";
  snapshot.size = 2 * 4096;
  snapshot.chunk_size = 4096;
  snapshot.chunks.resize(2);
  snapshot.chunks[0].bytes.fill(1);
  snapshot.chunks[1].bytes.fill(2);
  ASSERT_TRUE(repo->write_snapshot(snapshot));
  ASSERT_TRUE(repo->read_snapshot(snapshot.id));

  // What someone without the key can write: the ids swapped, everything re-encoded and its
  // digests recomputed, as an older Haven's unencrypted repository would have taken it.
  Snapshot swapped = snapshot;
  std::swap(swapped.chunks[0], swapped.chunks[1]);
  Key guess{};
  for (const Key* key : {static_cast<const Key*>(nullptr), static_cast<const Key*>(&guess)}) {
    auto forged = encode_manifest_file({nullptr, 1, key}, swapped, kRepoVersion).value();
    write_file(path("repo/snapshots/" + snapshot.id), forged);
    auto refused = repo->read_snapshot(snapshot.id);
    ASSERT_FALSE(refused);
    EXPECT_FALSE(repo->read_snapshot_head(snapshot.id));
  }

  // Without keys/auth nothing can be trusted; with it but a config saying an older version,
  // the config was changed.
  std::filesystem::rename(path("repo/keys/auth"), path("auth"));
  auto missing = Repository::open(path("repo"), nullptr);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("keys/auth is missing"), std::string::npos);
  std::filesystem::rename(path("auth"), path("repo/keys/auth"));
  auto text = read_file(path("repo/config.json"));
  std::string json(text.begin(), text.end());
  json.replace(json.find("\"version\": 3"), 12, "\"version\": 2");
  write_file(path("repo/config.json"), std::vector<uint8_t>(json.begin(), json.end()));
  auto downgraded = Repository::open(path("repo"), nullptr);
  ASSERT_FALSE(downgraded);
  EXPECT_NE(downgraded.error().message().find("config was changed"), std::string::npos);
}

TEST_F(RepositoryTest, TheKeyFileIsPrivateWhateverTheUmask) {
  mode_t old = ::umask(0);
  auto repo = make_repo(true);
  ::umask(old);
  ASSERT_TRUE(repo);
  struct stat st {};
  ASSERT_EQ(::stat(path("repo/keys/main.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// What an index says of a blob's size is what a read allocates: a damaged length (or one
// written to make every reader allocate 1 GiB) fails the repository's opening, naming the file.
TEST_F(RepositoryTest, AnIndexEntryNoChunkCouldMakeIsRefused) {
  for (auto [length, plain] :
       {std::pair<uint32_t, uint32_t>{1u << 30, 4096}, std::pair<uint32_t, uint32_t>{100, 1u << 30},
        std::pair<uint32_t, uint32_t>{4, 4096}}) {
    std::filesystem::remove_all(path("repo"));
    auto repo = make_repo(false);
    ASSERT_TRUE(repo);
    IndexEntry entry;
    entry.id = sha256(bytes_of("x"));
    entry.location.length = length;
    entry.location.plain_size = plain;
    ASSERT_TRUE(repo->write_index({entry}));
    auto reopened = Repository::open(path("repo"), nullptr);
    ASSERT_FALSE(reopened) << length << " " << plain;
    EXPECT_NE(reopened.error().message().find("the index is damaged"), std::string::npos)
        << reopened.error().message();
  }
}

}  // namespace
}  // namespace haven::store
