#include "daemon/repository_sessions.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "store/repository.h"

namespace haven::daemon {
namespace {

class RepositorySessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-sessions-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  // Cheap scrypt costs: the tests check behaviour, not strength.
  std::string make_repo(const std::string& name, const std::string& passphrase) {
    store::InitOptions init;
    init.encrypt = !passphrase.empty();
    init.passphrase = passphrase;
    init.chunk_size = 4096;
    init.kdf = {1024, 8, 1};
    std::string path = m_dir + "/" + name;
    auto made = store::Repository::init(path, init);
    EXPECT_TRUE(made) << made.error().message();
    return path;
  }

  std::string m_dir;
  RepositorySessions m_sessions;
};

TEST_F(RepositorySessionsTest, TheSamePathAndPassphraseShareOneRepository) {
  std::string path = make_repo("repo", "secret");
  auto first = m_sessions.open(path, "secret");
  ASSERT_TRUE(first) << first.error().message();
  auto second = m_sessions.open(path, "secret");
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(first->get(), second->get());
  EXPECT_TRUE((*first)->config().encrypted);
}

TEST_F(RepositorySessionsTest, AWrongPassphraseIsRefusedAndKeepsTheGoodSession) {
  std::string path = make_repo("repo", "secret");
  auto good = m_sessions.open(path, "secret");
  ASSERT_TRUE(good) << good.error().message();
  auto wrong = m_sessions.open(path, "guess");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("passphrase"), std::string::npos)
      << wrong.error().message();
  auto again = m_sessions.open(path, "secret");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->get(), good->get()) << "the refused attempt did not evict it";
}

TEST_F(RepositorySessionsTest, NoPassphraseForAnEncryptedRepositorySaysSo) {
  std::string path = make_repo("repo", "secret");
  auto none = m_sessions.open(path, "");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("passphrase"), std::string::npos) << none.error().message();
  EXPECT_TRUE(m_sessions.open(path, "secret"));
}

TEST_F(RepositorySessionsTest, AnUnencryptedRepositoryNeedsNoPassphraseAndPathsAreApart) {
  std::string plain = make_repo("plain", "");
  std::string sealed = make_repo("sealed", "secret");
  auto a = m_sessions.open(plain, "");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_FALSE((*a)->config().encrypted);
  auto b = m_sessions.open(sealed, "secret");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_NE(a->get(), b->get());
  EXPECT_EQ(m_sessions.open(plain, "").value().get(), a->get());
}

}  // namespace
}  // namespace haven::daemon
