#include "base/unix_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

namespace haven {
namespace {

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-unix-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  // Accepts the connection a connect_unix() queued (a Unix socket queues it at once).
  static UniqueFd accept_one(const UniqueFd& listener) {
    UniqueFd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_TRUE(client) << "accept: " << errno;
    return client;
  }

  static void expect_nonblocking_cloexec(const UniqueFd& fd) {
    EXPECT_TRUE(::fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
  }

  // Sends `text` one way and reads it on the other end.
  static void expect_connected(const UniqueFd& from, const UniqueFd& to, const std::string& text) {
    ASSERT_EQ(::send(from.get(), text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
    std::string got(text.size() + 8, '\0');
    ssize_t n = ::recv(to.get(), got.data(), got.size(), MSG_DONTWAIT);
    ASSERT_EQ(n, static_cast<ssize_t>(text.size()));
    got.resize(static_cast<size_t>(n));
    EXPECT_EQ(got, text);
  }

  std::string m_dir;
};

TEST_F(UnixSocketTest, ListenAndConnectMakeAConnection) {
  std::string path = m_dir + "/s";
  auto listener = listen_unix(path, 4);
  ASSERT_TRUE(listener) << listener.error().message();
  expect_nonblocking_cloexec(*listener);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));

  auto client = connect_unix(path);
  ASSERT_TRUE(client) << client.error().message();
  expect_nonblocking_cloexec(*client);
  UniqueFd server = accept_one(*listener);
  ASSERT_TRUE(server);
  expect_connected(*client, server, "hello");
  expect_connected(server, *client, "and back");
}

TEST_F(UnixSocketTest, AStaleSocketIsReplaced) {
  std::string path = m_dir + "/stale";
  {
    auto earlier = listen_unix(path, 1);
    ASSERT_TRUE(earlier) << earlier.error().message();
  }  // closed, as by a process that died: the file stays
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(connect_unix(path)) << "nobody listens on a stale socket";

  auto listener = listen_unix(path, 1);
  ASSERT_TRUE(listener) << listener.error().message();
  auto client = connect_unix(path);
  ASSERT_TRUE(client) << client.error().message();
  UniqueFd server = accept_one(*listener);
  ASSERT_TRUE(server);
  expect_connected(*client, server, "x");
}

TEST_F(UnixSocketTest, AnyOtherFileAtThePathIsAnErrorAndStays) {
  std::string path = m_dir + "/file";
  std::ofstream(path) << "keep me";
  auto listener = listen_unix(path, 1);
  ASSERT_FALSE(listener);
  EXPECT_NE(listener.error().message().find("not a socket"), std::string::npos)
      << listener.error().message();
  EXPECT_NE(listener.error().message().find(path), std::string::npos);
  std::string contents;
  std::getline(std::ifstream(path), contents);
  EXPECT_EQ(contents, "keep me");

  ASSERT_EQ(::mkdir((m_dir + "/dir").c_str(), 0700), 0);
  EXPECT_FALSE(listen_unix(m_dir + "/dir", 1));
  EXPECT_TRUE(std::filesystem::is_directory(m_dir + "/dir"));
}

TEST_F(UnixSocketTest, PathsLongerThanSunPathAreRefused) {
  constexpr size_t kLimit = sizeof(sockaddr_un{}.sun_path) - 1;  // room for the NUL
  std::string longest = m_dir + "/";
  longest += std::string(kLimit - longest.size(), 'a');
  ASSERT_EQ(longest.size(), kLimit);
  auto listener = listen_unix(longest, 1);
  ASSERT_TRUE(listener) << "the longest path that fits: " << listener.error().message();
  ASSERT_TRUE(connect_unix(longest));

  std::string too_long = longest + "b";
  auto refused = listen_unix(too_long, 1);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("too long"), std::string::npos)
      << refused.error().message();
  EXPECT_FALSE(std::filesystem::exists(too_long));
  auto not_connected = connect_unix(too_long);
  ASSERT_FALSE(not_connected);
  EXPECT_NE(not_connected.error().message().find("too long"), std::string::npos);
}

TEST_F(UnixSocketTest, ConnectingToNothingNamesThePathAndErrno) {
  std::string path = m_dir + "/nobody";
  auto client = connect_unix(path);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code(), ENOENT);
  EXPECT_NE(client.error().message().find(path), std::string::npos) << client.error().message();
}

}  // namespace
}  // namespace haven
