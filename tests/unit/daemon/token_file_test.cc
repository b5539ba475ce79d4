#include "daemon/token_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace haven::daemon {
namespace {

class TokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-token-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  std::string write(const std::string& text, mode_t mode) {
    std::string path = m_dir + "/token";
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string m_dir;
};

TEST_F(TokenFileTest, AnOwnerOnlyFileGivesItsTrimmedToken) {
  EXPECT_EQ(read_token_file(write("  0123456789abcdef\n", 0600)).value(), "0123456789abcdef");
  EXPECT_EQ(read_token_file(write("0123456789abcdefXYZ", 0400)).value(), "0123456789abcdefXYZ");
}

TEST_F(TokenFileTest, WhatIsWrongIsSaid) {
  auto open = read_token_file(write("0123456789abcdef", 0640));
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message().find("chmod 600"), std::string::npos);
  auto short_one = read_token_file(write("short", 0600));
  ASSERT_FALSE(short_one);
  EXPECT_NE(short_one.error().message().find("at least 16"), std::string::npos);
  EXPECT_FALSE(read_token_file(write("0123456789abcdef second", 0600)));
  EXPECT_FALSE(read_token_file(m_dir + "/missing"));
  EXPECT_FALSE(read_token_file(m_dir)) << "a directory";
}

TEST(SameToken, OnlyTheExactTokenMatches) {
  EXPECT_TRUE(same_token("0123456789abcdef", "0123456789abcdef"));
  EXPECT_FALSE(same_token("0123456789abcdeX", "0123456789abcdef"));
  EXPECT_FALSE(same_token("0123456789abcde", "0123456789abcdef"));
  EXPECT_FALSE(same_token("0123456789abcdef0", "0123456789abcdef"));
  EXPECT_FALSE(same_token("", "0123456789abcdef"));
}

}  // namespace
}  // namespace haven::daemon
