#include "vmm/restoring_disk.h"

#include <gtest/gtest.h>

#include "store/backup.h"
#include "store/prune.h"
#include "unit/store/store_fixture.h"

namespace haven::vmm {
namespace {

class RestoringDiskTest : public store::testing::StoreTest {
 protected:
  store::Snapshot backup(store::Repository& repo, const std::vector<uint8_t>& disk,
                         const std::string& name) {
    write_file(path("disk.img"), disk);
    store::BackupOptions options;
    options.source = path("disk.img");
    options.name = name;
    options.threads = 2;
    return store::backup_image(repo, options).value();
  }
};

TEST_F(RestoringDiskTest, AChunkAPruneMovedIntoANewPackIsStillFetched) {
  auto repo = make_repo();
  auto shared = random_data(32 * 4096, 1);
  auto first_disk = shared;
  auto extra = random_data(32 * 4096, 2);
  first_disk.insert(first_disk.end(), extra.begin(), extra.end());
  store::Snapshot first = backup(*repo, first_disk, "first");
  store::Snapshot second = backup(*repo, shared, "second");

  DiskConfig disk;
  disk.path = path("restoring.img");
  disk.restore_repo = path("repo");
  disk.restore_snapshot = second.id;
  disk.hydrate = false;  // a throwaway image: only what is asked for is fetched
  auto image = open_restoring_disk(disk);
  ASSERT_TRUE(image) << image.error().message();
  ASSERT_NE(*image, nullptr);
  // Removing `first` leaves its one pack mostly garbage: the chunks `second` uses are copied
  // into a new pack and the old one deleted, after the restoring disk read the index.
  auto report = store::prune_snapshots(*repo, {first.id}, false);
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_EQ(report->packs_rewritten, 1u);
  auto fetched = (*image)->prepare(0, shared.size(), false);
  ASSERT_TRUE(fetched) << fetched.error().message();
  EXPECT_EQ(read_file(path("restoring.img")), shared);
}

}  // namespace
}  // namespace haven::vmm
