#include "store/pack.h"

#include <fcntl.h>

#include <cstring>
#include <functional>

#include "base/sys.h"
#include "store_fixture.h"

namespace haven::store {
namespace {

class PackTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    std::filesystem::create_directories(path("tmp"));
    std::filesystem::create_directories(path("packs"));
    ASSERT_TRUE(random_bytes(m_key));
    m_codec.auth = &m_key;
  }
  // A pack of `count` blobs of a few hundred bytes; returns its entries.
  std::vector<IndexEntry> write_pack(size_t count, std::string* file) {
    auto writer = PackWriter::create(path("tmp"), path("packs"), m_codec).value();
    for (size_t i = 0; i < count; ++i) {
      auto data = random_data(300 + i, static_cast<uint32_t>(i));
      auto blob = encode_blob(m_codec, BlobKind::chunk, data).value();
      EXPECT_TRUE(writer.append(sha256(data), blob, static_cast<uint32_t>(data.size())));
    }
    auto entries = writer.entries();
    EXPECT_TRUE(writer.commit());
    *file = writer.final_path();
    return entries;
  }
  Result<std::optional<std::vector<IndexEntry>>> read_list(const std::string& file,
                                                           const PackId& id) {
    UniqueFd fd = TRY(sys::open(file, O_RDONLY | O_CLOEXEC));
    return read_pack_contents(m_codec, fd.get(), id, std::filesystem::file_size(file), 4096);
  }

  Key m_key;
  BlobCodec m_codec;
};

TEST_F(PackTest, APackListsItsBlobsAtItsEnd) {
  std::string file;
  auto entries = write_pack(5, &file);
  ASSERT_EQ(entries.size(), 5u);
  auto listed = read_list(file, entries[0].location.pack);
  ASSERT_TRUE(listed) << listed.error().message();
  ASSERT_TRUE(*listed);
  ASSERT_EQ((*listed)->size(), 5u);
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ((**listed)[i].id, entries[i].id);
    EXPECT_EQ((**listed)[i].location.offset, entries[i].location.offset);
    EXPECT_EQ((**listed)[i].location.length, entries[i].location.length);
  }
  EXPECT_EQ(entries[0].location.offset, sizeof(kPackMagic));
  EXPECT_EQ(parse_pack_name(pack_name(entries[0].location.pack)).value(), entries[0].location.pack);
  EXPECT_FALSE(parse_pack_name("xyz"));
  EXPECT_FALSE(parse_pack_name(std::string(32, 'A'))) << "lower case only, as written";
}

TEST_F(PackTest, AListIsBoundToItsPackAndAuthenticated) {
  std::string file;
  auto entries = write_pack(3, &file);
  PackId other = entries[0].location.pack;
  other[0] ^= 1;
  EXPECT_FALSE(read_list(file, other)) << "a list moved to another pack";
  Key wrong = m_key;
  wrong[0] ^= 1;
  m_codec.auth = &wrong;
  EXPECT_FALSE(read_list(file, entries[0].location.pack));
}

TEST_F(PackTest, EveryDamageToTheEndIsAnErrorNotACrash) {
  std::string file;
  auto entries = write_pack(4, &file);
  const PackId id = entries[0].location.pack;
  auto good = read_file(file);
  for (size_t back = 1; back <= 60; ++back) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      auto bytes = good;
      bytes[bytes.size() - back] ^= flip;
      write_file(file, bytes);
      EXPECT_FALSE(read_list(file, id)) << "byte " << back << " from the end";
    }
  }
  for (size_t keep : {size_t{0}, size_t{4}, size_t{8}, size_t{20}, good.size() - 1}) {
    write_file(file, std::vector<uint8_t>(good.begin(), good.begin() + keep));
    EXPECT_FALSE(read_list(file, id)) << "cut to " << keep;
  }
  // A length pointing before the first blob.
  auto bytes = good;
  uint64_t huge = bytes.size();
  std::memcpy(bytes.data() + bytes.size() - kPackEndBytes, &huge, 8);
  write_file(file, bytes);
  EXPECT_FALSE(read_list(file, id));
}

// Where nothing authenticates a list (an unencrypted repository before version 3), its
// entries are still held to the pack.
TEST_F(PackTest, AnUnauthenticatedListNamingBlobsOutsideThePackIsRefused) {
  m_codec.auth = nullptr;
  std::string file;
  auto entries = write_pack(3, &file);
  const PackId id = entries[0].location.pack;
  ASSERT_TRUE(read_list(file, id).value());
  auto good = read_file(file);
  uint64_t list_length;
  std::memcpy(&list_length, good.data() + good.size() - kPackEndBytes, 8);
  const uint64_t blobs_end = good.size() - kPackEndBytes - list_length;
  struct Case {
    const char* what;
    std::function<void(IndexEntry&)> change;
  };
  for (const Case& bad : {
           Case{"past the blobs", [&](IndexEntry& e) { e.location.offset = blobs_end; }},
           Case{"over the list", [&](IndexEntry& e) { e.location.length = 1u << 20; }},
           Case{"in the magic", [](IndexEntry& e) { e.location.offset = 2; }},
           Case{"another pack", [](IndexEntry& e) { e.location.pack[3] ^= 1; }},
           Case{"no chunk", [](IndexEntry& e) { e.location.plain_size = 0; }},
           Case{"a huge chunk", [](IndexEntry& e) { e.location.plain_size = 1u << 30; }},
           Case{"shorter than a header", [](IndexEntry& e) { e.location.length = 3; }},
       }) {
    SCOPED_TRACE(bad.what);
    auto changed = entries;
    bad.change(changed[1]);
    auto list = encode_blob(m_codec, BlobKind::pack_contents, encode_index(changed), id).value();
    std::vector<uint8_t> bytes(good.begin(), good.begin() + blobs_end);
    bytes.insert(bytes.end(), list.begin(), list.end());
    uint64_t length = list.size();
    bytes.insert(bytes.end(), reinterpret_cast<uint8_t*>(&length),
                 reinterpret_cast<uint8_t*>(&length) + 8);
    bytes.insert(bytes.end(), kPackEndMagic, kPackEndMagic + 8);
    write_file(file, bytes);
    EXPECT_FALSE(read_list(file, id));
  }
}

TEST_F(PackTest, APackOfTheFirstLayoutListsNothing) {
  std::string file;
  auto entries = write_pack(2, &file);
  auto bytes = read_file(file);
  std::memcpy(bytes.data(), kListlessPackMagic, 8);
  write_file(file, bytes);
  auto listed = read_list(file, entries[0].location.pack);
  ASSERT_TRUE(listed);
  EXPECT_FALSE(*listed);
  std::memcpy(bytes.data(), "NOTAPACK", 8);
  write_file(file, bytes);
  EXPECT_FALSE(read_list(file, entries[0].location.pack));
}

}  // namespace
}  // namespace haven::store
