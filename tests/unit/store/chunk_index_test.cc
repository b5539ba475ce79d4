#include "store/chunk_index.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "store/crypto.h"

namespace haven::store {
namespace {

IndexEntry entry(uint32_t n, uint64_t offset = 0) {
  IndexEntry e;
  std::vector<uint8_t> seed(4);
  std::memcpy(seed.data(), &n, 4);
  e.id = sha256(seed);
  e.location.offset = offset;
  e.location.length = n;
  return e;
}

TEST(ChunkIndex, FindsWhatWasAddedOneByOneOrInBulkAndNothingElse) {
  ChunkIndex index;
  EXPECT_FALSE(index.contains(entry(1).id));  // empty: nothing to find
  for (uint32_t n = 0; n < 1000; ++n) index.add(entry(n, n * 10));
  std::vector<IndexEntry> more;
  for (uint32_t n = 1000; n < 50000; ++n) more.push_back(entry(n, n * 10));
  index.add(more);
  EXPECT_EQ(index.size(), 50000u);
  for (uint32_t n = 0; n < 50000; n += 7) {
    auto found = index.find(entry(n).id);
    ASSERT_TRUE(found) << n;
    EXPECT_EQ(found->offset, n * 10u);
    EXPECT_EQ(found->length, n);
  }
  for (uint32_t n = 50000; n < 51000; ++n) EXPECT_FALSE(index.contains(entry(n).id)) << n;
}

TEST(ChunkIndex, KeepsTheFirstLocationOfAnId) {
  ChunkIndex index;
  index.add(entry(5, 100));
  index.add(entry(5, 200));
  std::vector<IndexEntry> again = {entry(5, 300), entry(6, 400), entry(6, 500)};
  index.add(again);
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.find(entry(5).id)->offset, 100u);
  EXPECT_EQ(index.find(entry(6).id)->offset, 400u);
  auto all = index.entries();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, entry(5).id);  // in the order added
  EXPECT_EQ(all[1].location.offset, 400u);
}

TEST(ChunkIndex, ContainsAllPassesOverWhatIsExempt) {
  ChunkIndex index;
  index.add(entry(1));
  index.add(entry(2));
  std::vector<ChunkId> ids = {entry(1).id, ChunkId{}, entry(2).id};
  auto zero = [](const ChunkId& id) { return id == ChunkId{}; };
  EXPECT_TRUE(index.contains_all(ids, zero));
  EXPECT_FALSE(index.contains_all(ids, nullptr));  // the zero id is not in it
  ids.push_back(entry(3).id);
  EXPECT_FALSE(index.contains_all(ids, zero));
  EXPECT_TRUE(index.contains_all({}, nullptr));
}

TEST(ChunkIndex, ClearAndReplaceWith) {
  ChunkIndex index, other;
  index.add(entry(1));
  other.add(entry(2));
  other.add(entry(3));
  index.replace_with(std::move(other));
  EXPECT_FALSE(index.contains(entry(1).id));
  EXPECT_TRUE(index.contains(entry(3).id));
  EXPECT_EQ(index.size(), 2u);
  index.clear();
  EXPECT_EQ(index.size(), 0u);
  EXPECT_FALSE(index.contains(entry(2).id));
  index.add(entry(4));  // usable again after a clear
  EXPECT_TRUE(index.contains(entry(4).id));
}

}  // namespace
}  // namespace haven::store
