#include "daemon/tls_identity.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

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
  // PEM on disk (its names: TheCertificateNamesTheHostsAddresses).
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
  // Half a pair in the state directory (someone removed a file) is not silently replaced.
  ASSERT_EQ(::unlink(one->certificate_path.c_str()), 0);
  auto half = self_signed_tls_identity(m_dir + "/one", "");
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message().find("TLS certificate"), std::string::npos)
      << half.error().message();
  EXPECT_NE(half.error().message().find("cert.pem"), std::string::npos);
}

TEST_F(TlsIdentityTest, TheCertificateNamesTheHostsAddresses) {
  auto made = self_signed_tls_identity(m_dir + "/tls", "192.0.2.7");
  ASSERT_TRUE(made) << made.error().message();
  X509* certificate = made->certificate.get();
  for (const char* address : {"192.0.2.7", "127.0.0.1", "::1"})
    EXPECT_EQ(X509_check_ip_asc(certificate, address, 0), 1) << address;
  EXPECT_EQ(X509_check_host(certificate, "localhost", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_ip_asc(certificate, "192.0.2.8", 0), 1) << "only what it was made for";
}

TEST_F(TlsIdentityTest, LinksAreFollowedAndAChainIsKept) {
  auto one = self_signed_tls_identity(m_dir + "/one", "");
  auto two = self_signed_tls_identity(m_dir + "/two", "");
  ASSERT_TRUE(one && two);
  // As certbot's live/ directory: links to the files; a certificate file with its chain after.
  std::string chained = m_dir + "/fullchain.pem";
  {
    auto leaf = sys::read_until_end(one->certificate_path, 1 << 20);
    auto other = sys::read_until_end(two->certificate_path, 1 << 20);
    ASSERT_TRUE(leaf && other);
    std::ofstream(chained) << *leaf << *other;
  }
  ASSERT_EQ(::symlink(one->key_path.c_str(), (m_dir + "/privkey.pem").c_str()), 0);
  auto loaded = load_tls_identity(chained, m_dir + "/privkey.pem");
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->fingerprint, one->fingerprint) << "the first certificate is the server's";
  EXPECT_EQ(loaded->chain.size(), 1u);
}

TEST_F(TlsIdentityTest, AnEncryptedKeyIsRefusedWithoutAskingForItsPassphrase) {
  auto one = self_signed_tls_identity(m_dir + "/one", "");
  ASSERT_TRUE(one);
  std::string encrypted = m_dir + "/encrypted.pem";
  {
    FILE* out = std::fopen(encrypted.c_str(), "w");
    ASSERT_NE(out, nullptr);
    char passphrase[] = "secret";
    EXPECT_EQ(
        PEM_write_PrivateKey(out, one->key.get(), EVP_aes_256_cbc(),
                             reinterpret_cast<unsigned char*>(passphrase), 6, nullptr, nullptr),
        1);
    std::fclose(out);
  }
  ASSERT_EQ(::chmod(encrypted.c_str(), 0600), 0);
  auto loaded = load_tls_identity(one->certificate_path, encrypted);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message().find("not an unencrypted PEM private key"), std::string::npos)
      << loaded.error().message();
}

}  // namespace
}  // namespace haven::daemon
