#include "daemon/tls_identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "base/sys.h"

namespace haven::daemon {
namespace {

class TlsIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-tls-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  std::string m_dir;
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST_F(TlsIdentityTest, MadeOnceWithAPrivateKeyThenUsedAgain) {
  auto made = self_signed_tls_identity(m_dir + "/tls", "192.0.2.7");
  ASSERT_TRUE(made) << made.error().message();
  EXPECT_TRUE(made->made_now);
  EXPECT_EQ(made->certificate_path, m_dir + "/tls/cert.pem");
  EXPECT_EQ(mode_of(made->key_path), 0600u);
  EXPECT_EQ(mode_of(m_dir + "/tls"), 0700u);
  EXPECT_TRUE(std::regex_match(made->fingerprint, std::regex("SHA256(:[0-9A-F]{2}){32}")))
      << made->fingerprint;
  auto again = self_signed_tls_identity(m_dir + "/tls", "192.0.2.7");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(again->made_now);
  EXPECT_EQ(again->fingerprint, made->fingerprint) << "a restart keeps the certificate";
  // The certificate names the listen address, localhost and the loopback addresses.
  auto text = sys::read_until_end(made->certificate_path, 1 << 20);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST_F(TlsIdentityTest, AGivenPairIsCheckedToBelongTogether) {
  auto one = self_signed_tls_identity(m_dir + "/one", "");
  auto two = self_signed_tls_identity(m_dir + "/two", "");
  ASSERT_TRUE(one && two);
  auto loaded = load_tls_identity(one->certificate_path, one->key_path);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->fingerprint, one->fingerprint);
  auto mixed = load_tls_identity(one->certificate_path, two->key_path);
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message().find("does not belong to the certificate"), std::string::npos)
      << mixed.error().message();
}

TEST_F(TlsIdentityTest, AKeyOthersMayReadIsRefused) {
  auto one = self_signed_tls_identity(m_dir + "/one", "");
  ASSERT_TRUE(one);
  ASSERT_EQ(::chmod(one->key_path.c_str(), 0640), 0);
  auto loaded = load_tls_identity(one->certificate_path, one->key_path);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message().find("others may read it (mode 0640)"), std::string::npos)
      << loaded.error().message();
}

TEST_F(TlsIdentityTest, WhatIsNotPemOrMissingIsNamed) {
  auto one = self_signed_tls_identity(m_dir + "/one", "");
  ASSERT_TRUE(one);
  std::ofstream(m_dir + "/junk.pem") << "not a certificate\n";
  auto junk = load_tls_identity(m_dir + "/junk.pem", one->key_path);
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message().find("junk.pem: not a PEM certificate"), std::string::npos)
      << junk.error().message();
  auto missing = load_tls_identity(one->certificate_path, m_dir + "/nothing.pem");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("nothing.pem"), std::string::npos);
  // Half a pair in the state directory is not silently replaced.
  ASSERT_EQ(::unlink(one->certificate_path.c_str()), 0);
  auto half = self_signed_tls_identity(m_dir + "/one", "");
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message().find("holds key.pem but not cert.pem"), std::string::npos)
      << half.error().message();
}

}  // namespace
}  // namespace haven::daemon
