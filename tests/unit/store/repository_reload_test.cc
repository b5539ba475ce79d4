// Repository::reload_index: a repository kept open catches up with what other writers added
// and what garbage collection removed.

#include "store/backup.h"
#include "store/prune.h"
#include "store/repository.h"
#include "store_fixture.h"

namespace haven::store {
namespace {

class RepositoryReloadTest : public testing::StoreTest {
 protected:
  Snapshot backup(Repository& repo, const std::vector<uint8_t>& disk, const std::string& name) {
    write_file(path("disk.img"), disk);
    auto snapshot = backup_image(repo, {path("disk.img"), name, {}, 2, nullptr});
    EXPECT_TRUE(snapshot) << snapshot.error().message();
    return snapshot ? *snapshot : Snapshot{};
  }
  static size_t known(Repository& repo, const Snapshot& snapshot) {
    size_t count = 0;
    for (const ChunkId& id : snapshot.chunks) count += repo.index().contains(id);
    return count;
  }
};

TEST_F(RepositoryReloadTest, AnotherWritersNewChunksAppearAfterAReload) {
  auto writer = make_repo(true);
  auto reader = open_repo();
  ASSERT_TRUE(writer && reader);
  Snapshot first = backup(*writer, random_data(16 * 4096, 1), "vm");
  ASSERT_EQ(first.chunks.size(), 16u);
  EXPECT_EQ(known(*reader, first), 0u) << "nothing until it reloads";
  ASSERT_TRUE(reader->reload_index());
  EXPECT_EQ(known(*reader, first), 16u);
  EXPECT_EQ(reader->index().size(), writer->index().size());
  // Only the files added since are read; what was known stays.
  Snapshot second = backup(*writer, random_data(8 * 4096, 2), "vm");
  ASSERT_TRUE(reader->reload_index());
  EXPECT_EQ(known(*reader, first), 16u);
  EXPECT_EQ(known(*reader, second), 8u);
  EXPECT_EQ(reader->index().size(), 24u);
  ASSERT_TRUE(reader->reload_index()) << "nothing new is fine";
  EXPECT_EQ(reader->index().size(), 24u);
}

TEST_F(RepositoryReloadTest, GarbageCollectionsRemovedEntriesGoAfterAReload) {
  auto writer = make_repo();
  auto reader = open_repo();
  Snapshot gone = backup(*writer, random_data(16 * 4096, 3), "old");
  Snapshot kept = backup(*writer, random_data(8 * 4096, 4), "new");
  ASSERT_TRUE(reader->reload_index());
  ASSERT_EQ(reader->index().size(), 24u);

  auto report = prune_snapshots(*writer, {gone.id}, false);
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_TRUE(reader->reload_index());
  EXPECT_EQ(known(*reader, gone), 0u) << "the pruned snapshot's chunks are gone";
  EXPECT_EQ(known(*reader, kept), 8u);
  EXPECT_EQ(reader->index().size(), 8u);
  // Its chunks are where the rewritten index says.
  for (const ChunkId& id : kept.chunks) EXPECT_TRUE(reader->read_chunk(id)) << id.hex();
}

TEST_F(RepositoryReloadTest, ReplacingTheIndexWithNothingEmptiesItAfterAReload) {
  auto writer = make_repo();
  auto reader = open_repo();
  Snapshot snapshot = backup(*writer, random_data(4 * 4096, 5), "vm");
  ASSERT_TRUE(reader->reload_index());
  EXPECT_EQ(known(*reader, snapshot), 4u);
  auto files = writer->index_files();
  ASSERT_TRUE(files && !files->empty());
  auto entries = writer->index().entries();
  entries.pop_back();
  ASSERT_TRUE(writer->replace_index(entries, *files));
  ASSERT_TRUE(reader->reload_index());
  EXPECT_EQ(reader->index().size(), 3u);
  ASSERT_TRUE(writer->replace_index({}, writer->index_files().value()));
  ASSERT_TRUE(reader->reload_index());
  EXPECT_EQ(reader->index().size(), 0u);
}

}  // namespace
}  // namespace haven::store
