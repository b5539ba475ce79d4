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

TEST_F(TokenFileTest, AFileOfOneTokenIsAnAdmins) {
  auto one = read_token_file(write("  0123456789abcdef\n", 0600));
  ASSERT_TRUE(one) << one.error().message();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].secret, "0123456789abcdef");
  EXPECT_EQ((*one)[0].role, TokenRole::admin);
  EXPECT_EQ((*one)[0].name, "line 1");
  auto read_only = read_token_file(write("0123456789abcdefXYZ", 0400));
  ASSERT_TRUE(read_only);
  EXPECT_EQ((*read_only)[0].secret, "0123456789abcdefXYZ");
}

TEST_F(TokenFileTest, TokensWithRolesAndNames) {
  auto tokens =
      read_token_file(write("# havend's tokens\n"
                            "\n"
                            "read-only  aaaaaaaaaaaaaaaa1 grafana\n"
                            "operator bbbbbbbbbbbbbbbb2 backup-robot\n"
                            "admin cccccccccccccccc3\n",
                            0600));
  ASSERT_TRUE(tokens) << tokens.error().message();
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].role, TokenRole::read_only);
  EXPECT_EQ((*tokens)[0].name, "grafana");
  EXPECT_EQ((*tokens)[1].role, TokenRole::operator_);
  EXPECT_EQ((*tokens)[1].secret, "bbbbbbbbbbbbbbbb2");
  EXPECT_EQ((*tokens)[2].role, TokenRole::admin);
  EXPECT_EQ((*tokens)[2].name, "line 5");
  EXPECT_EQ(find_token("bbbbbbbbbbbbbbbb2", *tokens)->name, "backup-robot");
  EXPECT_FALSE(find_token("bbbbbbbbbbbbbbbb", *tokens));
  EXPECT_FALSE(find_token("", *tokens));
}

TEST_F(TokenFileTest, WhatIsWrongIsSaid) {
  auto open = read_token_file(write("0123456789abcdef", 0640));
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message().find("chmod 600"), std::string::npos);
  auto short_one = read_token_file(write("short", 0600));
  ASSERT_FALSE(short_one);
  EXPECT_NE(short_one.error().message().find("at least 16"), std::string::npos);
  auto role = read_token_file(write("root 0123456789abcdef", 0600));
  ASSERT_FALSE(role);
  EXPECT_NE(role.error().message().find("line 1: 'root' is not a role"), std::string::npos)
      << role.error().message();
  auto twice =
      read_token_file(write("operator 0123456789abcdef a\nadmin 0123456789abcdef b", 0600));
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message().find("line 2: the same token as a"), std::string::npos)
      << twice.error().message();
  EXPECT_FALSE(read_token_file(write("admin 0123456789abcdef name extra", 0600)));
  // A bare token is an admin's only alone: appended to others without a role, it is refused.
  auto appended =
      read_token_file(write("operator 0123456789abcdef robot\nfedcba9876543210\n", 0600));
  ASSERT_FALSE(appended);
  EXPECT_NE(appended.error().message().find("line 2: give its role"), std::string::npos)
      << appended.error().message();
  EXPECT_FALSE(read_token_file(write("# only a comment\n", 0600)));
  EXPECT_FALSE(read_token_file(m_dir + "/missing"));
  EXPECT_FALSE(read_token_file(m_dir)) << "a directory";
}

TEST(RoleAllows, EachRoleItsShare) {
  for (TokenRole role : {TokenRole::read_only, TokenRole::operator_, TokenRole::admin}) {
    EXPECT_TRUE(role_allows(role, "GET", "/v1/vms"));
    EXPECT_TRUE(role_allows(role, "GET", "/v1/vms/a/console"));
  }
  for (const char* action :
       {"start", "stop", "kill", "pause", "resume", "snapshot", "backup", "fill", "console"}) {
    std::string path = std::string("/v1/vms/web/") + action;
    EXPECT_FALSE(role_allows(TokenRole::read_only, "POST", path)) << path;
    EXPECT_TRUE(role_allows(TokenRole::operator_, "POST", path)) << path;
    EXPECT_TRUE(role_allows(TokenRole::admin, "POST", path)) << path;
  }
  // A restore defines a new guest: an admin's.
  EXPECT_FALSE(role_allows(TokenRole::operator_, "POST", "/v1/restore"));
  EXPECT_TRUE(role_allows(TokenRole::admin, "POST", "/v1/restore"));
  EXPECT_TRUE(role_allows(TokenRole::read_only, "HEAD", "/v1/vms"));
  for (const char* method : {"OPTIONS", "PATCH", "PUT"})
    EXPECT_FALSE(role_allows(TokenRole::operator_, method, "/v1/vms/web/start")) << method;
  EXPECT_FALSE(role_allows(TokenRole::operator_, "POST", "/v1/vms/web/start/"));
  for (auto [method, path] :
       {std::pair{"POST", "/v1/vms"}, std::pair{"PUT", "/v1/vms/web"},
        std::pair{"DELETE", "/v1/vms/web"}, std::pair{"POST", "/v1/vms/web/start/x"},
        std::pair{"POST", "/v1/vms/a/b/start"}}) {
    EXPECT_FALSE(role_allows(TokenRole::operator_, method, path)) << method << " " << path;
    EXPECT_FALSE(role_allows(TokenRole::read_only, method, path)) << method << " " << path;
  }
  EXPECT_TRUE(role_allows(TokenRole::admin, "DELETE", "/v1/vms/web"));
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
