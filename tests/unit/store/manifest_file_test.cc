// The snapshot file's two layouts: a version-2 file's head reads alone, whole files of both
// versions read alike, and a file that is cut, relabelled or spliced from another snapshot's
// pieces is refused.
#include "store/manifest_file.h"

#include <gtest/gtest.h>

#include <cstring>

#include "store/crypto.h"

namespace haven::store {
namespace {

Snapshot sample(const std::string& id = "0123456789abcdef", uint64_t chunks = 1000) {
  Snapshot snapshot;
  snapshot.id = id;
  snapshot.name = "vm1";
  snapshot.source = "/var/lib/haven/vm1.img";
  snapshot.time = 1795700000;
  snapshot.size = chunks * 65536 - 100;
  snapshot.chunk_size = 65536;
  snapshot.vm = R"({"name": "vm1", "firmware": "uefi"})";
  snapshot.disk = 0;
  snapshot.nvram.assign(8192, 0xff);
  snapshot.chunks.resize(chunks);
  for (uint64_t i = 0; i < chunks; i += 3)  // two of every three chunks are holes
    snapshot.chunks[i] = sha256(std::vector<uint8_t>{static_cast<uint8_t>(i), 1});
  return snapshot;
}

class ManifestFileTest : public ::testing::TestWithParam<bool> {
 protected:
  BlobCodec codec() const { return {GetParam() ? &m_keys : nullptr, 1}; }
  SnapshotHead head_of(std::span<const uint8_t> file, const std::string& id) const {
    auto extent = manifest_head_extent(file.first(std::min(file.size(), kManifestFrameBytes)),
                                       file.size(), 1);
    EXPECT_TRUE(extent) << extent.error().message();
    auto head = decode_manifest_file_head(codec(), id, file.first(extent ? *extent : 0), 1);
    EXPECT_TRUE(head) << head.error().message();
    return head ? *head : SnapshotHead{};
  }

 private:
  MasterKeys m_keys = [] {
    MasterKeys keys;
    keys.data.fill(7);
    keys.id.fill(9);
    return keys;
  }();
};

TEST_P(ManifestFileTest, BothLayoutsReadWholeAndAsAHead) {
  Snapshot snapshot = sample();
  for (int version : {1, 2}) {
    SCOPED_TRACE(version);
    auto file = encode_manifest_file(codec(), snapshot, version).value();
    auto whole = decode_manifest_file(codec(), snapshot.id, file, 1);
    ASSERT_TRUE(whole) << whole.error().message();
    EXPECT_EQ(whole->chunks, snapshot.chunks);
    EXPECT_EQ(whole->nvram, snapshot.nvram);
    EXPECT_EQ(whole->zero_chunks, 666u);
    SnapshotHead head = head_of(file, snapshot.id);
    EXPECT_EQ(head.name, "vm1");
    EXPECT_EQ(head.size, snapshot.size);
    EXPECT_EQ(head.vm, whole->vm);
    EXPECT_EQ(head.nvram, snapshot.nvram);
    EXPECT_EQ(head.zero_chunks, 666u);
    EXPECT_EQ(head.chunk_count(), 1000u);
  }
}

TEST_P(ManifestFileTest, AVersion2HeadIsSmallAndReadWithoutTheIds) {
  Snapshot snapshot = sample("0123456789abcdef", 100000);  // 3.2 MB of ids
  auto file = encode_manifest_file(codec(), snapshot, 2).value();
  auto extent = manifest_head_extent(std::span(file).first(kManifestFrameBytes), file.size(), 2);
  ASSERT_TRUE(extent);
  EXPECT_LT(*extent, 4096u) << "the head, without 32 bytes a chunk";
  // The ids are not needed to read it: a head alone reads, a cut file does not read whole.
  std::span<const uint8_t> head_only = std::span(file).first(*extent);
  EXPECT_EQ(head_of(head_only, snapshot.id).chunk_count(), 100000u);
  EXPECT_FALSE(decode_manifest_file(codec(), snapshot.id, head_only, 1));
  // Version 1 has no head apart: its extent is the whole file.
  auto old = encode_manifest_file(codec(), snapshot, 1).value();
  EXPECT_EQ(manifest_head_extent(std::span(old).first(kManifestFrameBytes), old.size(), 1).value(),
            old.size());
}

TEST_P(ManifestFileTest, RefusesCutRelabelledAndSplicedFiles) {
  Snapshot one = sample("0123456789abcdef"), two = sample("fedcba9876543210", 999);
  auto first = encode_manifest_file(codec(), one, 2).value();
  auto second = encode_manifest_file(codec(), two, 2).value();
  for (size_t cut = 0; cut < first.size(); cut += 97)
    EXPECT_FALSE(decode_manifest_file(codec(), one.id, std::span(first).first(cut), 1)) << cut;
  // Another snapshot's file under this id (both layouts).
  EXPECT_FALSE(decode_manifest_file(codec(), one.id, second, 1));
  auto old = encode_manifest_file(codec(), two, 1).value();
  EXPECT_FALSE(decode_manifest_file(codec(), one.id, old, 1));
  // This head with the other's ids, and the frame's length pointing past the file.
  uint32_t head_bytes;
  std::memcpy(&head_bytes, first.data() + 8, 4);
  uint32_t other_head_bytes;
  std::memcpy(&other_head_bytes, second.data() + 8, 4);
  std::vector<uint8_t> spliced(first.begin(), first.begin() + kManifestFrameBytes + head_bytes);
  spliced.insert(spliced.end(), second.begin() + kManifestFrameBytes + other_head_bytes,
                 second.end());
  auto refused = decode_manifest_file(codec(), one.id, spliced, 1);
  EXPECT_FALSE(refused);
  std::vector<uint8_t> long_frame = first;
  uint32_t huge = static_cast<uint32_t>(first.size());
  std::memcpy(long_frame.data() + 8, &huge, 4);
  EXPECT_FALSE(
      manifest_head_extent(std::span(long_frame).first(kManifestFrameBytes), long_frame.size(), 2));
  EXPECT_FALSE(decode_manifest_file(codec(), one.id, long_frame, 1));
}

// Another snapshot's ids of the same count (and holes) do not pass for this one's: sealed,
// each piece is bound to its snapshot; either way the head holds the ids' SHA-256.
TEST_P(ManifestFileTest, IdsBelongToTheirSnapshot) {
  Snapshot one = sample("0123456789abcdef"), two = sample("fedcba9876543210");
  two.chunks[3] = sha256(std::vector<uint8_t>{9, 9});
  auto first = encode_manifest_file(codec(), one, 2).value();
  auto second = encode_manifest_file(codec(), two, 2).value();
  uint64_t one_head = manifest_head_extent(first, first.size(), 2).value();
  uint64_t two_head = manifest_head_extent(second, second.size(), 2).value();
  std::vector<uint8_t> spliced(first.begin(), first.begin() + one_head);
  spliced.insert(spliced.end(), second.begin() + two_head, second.end());
  auto decoded = decode_manifest_file(codec(), one.id, spliced, 2);
  ASSERT_FALSE(decoded);
  if (!GetParam()) {
    EXPECT_NE(decoded.error().message().find("damaged"), std::string::npos)
        << decoded.error().message();
  }
  EXPECT_TRUE(decode_manifest_file_head(codec(), one.id, std::span(spliced).first(one_head), 2))
      << "the head alone is fine";
}

// A version-2 repository holds only framed files: a one-piece file there (which would be read
// whole for its head) is refused, while version 1 reads both.
TEST_P(ManifestFileTest, AVersion2RepositoryRefusesOnePieceFiles) {
  Snapshot snapshot = sample();
  auto old = encode_manifest_file(codec(), snapshot, 1).value();
  auto refused = decode_manifest_file(codec(), snapshot.id, old, 2);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("HVNMANI2"), std::string::npos);
  EXPECT_FALSE(decode_manifest_file_head(codec(), snapshot.id, old, 2));
  // Refused from its first bytes, before the whole file is read for a head.
  EXPECT_FALSE(manifest_head_extent(std::span(old).first(kManifestFrameBytes), old.size(), 2));
  auto framed = encode_manifest_file(codec(), snapshot, 2).value();
  EXPECT_TRUE(decode_manifest_file(codec(), snapshot.id, framed, 2));
  EXPECT_TRUE(decode_manifest_file(codec(), snapshot.id, framed, 1));
}

TEST_P(ManifestFileTest, RefusesAManifestWhoseIdsDoNotMatchItsDisk) {
  Snapshot wrong = sample();
  wrong.chunks.pop_back();
  for (int version : {1, 2}) EXPECT_FALSE(encode_manifest_file(codec(), wrong, version));
  Snapshot huge = sample();
  huge.size = (kMaxManifestChunks + 1) * huge.chunk_size;
  auto refused = encode_manifest_file(codec(), huge, 2);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("larger chunk size"), std::string::npos)
      << refused.error().message();
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, ManifestFileTest, ::testing::Bool());

}  // namespace
}  // namespace haven::store
