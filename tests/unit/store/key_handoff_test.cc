#include "store/key_handoff.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "store/backup.h"
#include "store_fixture.h"

namespace haven::store {
namespace {

KeyHandoff sample() {
  KeyHandoff handoff;
  handoff.repository = "/srv/backups/repo one";
  for (size_t i = 0; i < handoff.keys.data.size(); ++i) handoff.keys.data[i] = uint8_t(i);
  for (size_t i = 0; i < handoff.keys.id.size(); ++i) handoff.keys.id[i] = uint8_t(0xf0 ^ i);
  return handoff;
}

void expect_same(const KeyHandoff& a, const KeyHandoff& b) {
  EXPECT_EQ(a.repository, b.repository);
  EXPECT_EQ(a.keys.data, b.keys.data);
  EXPECT_EQ(a.keys.id, b.keys.id);
}

TEST(KeyHandoff, RoundTrips) {
  std::string text = encode_key_handoff(sample());
  EXPECT_EQ(text.rfind("haven-repo-keys 1\n/srv/backups/repo one\n", 0), 0u) << text;
  auto decoded = decode_key_handoff(text);
  ASSERT_TRUE(decoded) << decoded.error().message();
  expect_same(*decoded, sample());
}

TEST(KeyHandoff, MalformedTextsAreRefused) {
  std::string good = encode_key_handoff(sample());
  auto refused = [](const std::string& text) {
    auto decoded = decode_key_handoff(text);
    EXPECT_FALSE(decoded) << "accepted: " << text;
    return decoded ? std::string() : decoded.error().message();
  };
  std::string wrong_header = good;
  wrong_header.replace(0, 17, "haven-repo-keys 2");
  refused(wrong_header);
  EXPECT_NE(refused(good.substr(0, good.size() - 1)).find("newline"), std::string::npos);
  refused(good + "extra\n");
  refused("");
  std::string bad_hex = good;
  bad_hex[bad_hex.find('\n', 20) + 1] = 'z';  // the data key's first digit
  refused(bad_hex);
  std::string short_key = good;
  short_key.erase(short_key.find('\n', 20) + 1, 2);
  refused(short_key);
  std::string no_repository = good;
  no_repository.replace(18, std::string("/srv/backups/repo one").size(), "");
  refused(no_repository);
}

TEST(KeyHandoff, TheMemfdIsSealedAndHoldsTheKeys) {
  auto fd = key_handoff_memfd(sample());
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_EQ(::write(fd->get(), "x", 1), -1) << "sealed against writes";
  EXPECT_EQ(::ftruncate(fd->get(), 0), -1) << "sealed against shrinking";
  char buffer[512];
  ssize_t got = ::read(fd->get(), buffer, sizeof(buffer));
  ASSERT_GT(got, 0) << "positioned at its start";
  auto decoded = decode_key_handoff(std::string_view(buffer, static_cast<size_t>(got)));
  ASSERT_TRUE(decoded) << decoded.error().message();
  expect_same(*decoded, sample());
}

class OpenUnlockedTest : public testing::StoreTest {};

TEST_F(OpenUnlockedTest, TheRightKeysOpenAnEncryptedRepositoryAndWrongOnesDoNot) {
  auto repo = make_repo(true);
  ASSERT_TRUE(repo && repo->keys());
  write_file(path("disk.img"), random_data(8 * 4096, 5));
  auto snapshot = backup_image(*repo, {path("disk.img"), "vm", {}, 2, nullptr});
  ASSERT_TRUE(snapshot) << snapshot.error().message();

  auto unlocked = Repository::open_unlocked(path("repo"), *repo->keys());
  ASSERT_TRUE(unlocked) << unlocked.error().message();
  auto read = (*unlocked)->read_snapshot(snapshot->id);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->chunks.size(), snapshot->chunks.size());
  EXPECT_EQ((*unlocked)->index().size(), repo->index().size());

  MasterKeys wrong = *repo->keys();
  wrong.data[0] ^= 1;
  // Its index files are sealed: opening reads them and they fail authentication.
  auto opened = Repository::open_unlocked(path("repo"), wrong);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message().find("index"), std::string::npos) << opened.error().message();
}

}  // namespace
}  // namespace haven::store
