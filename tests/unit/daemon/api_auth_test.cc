// The API over TCP answers only requests carrying havend's bearer token (401 otherwise, with
// WWW-Authenticate and the field named); the Unix socket, guarded by its file mode, needs none.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/api_server.h"
#include "unit/daemon/api_harness.h"

namespace haven::daemon {
namespace {

// A loopback port nothing listens on now (the kernel's pick for a socket bound to port 0).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

class ApiAuthTest : public ApiHarness {
 protected:
  static constexpr const char* kToken = "4f1c0e9a7b2d4c6e8f0a1b3c5d7e9f02";

  void SetUp() override {
    ApiHarness::SetUp();
    m_port = free_port();
    serve(1.5, ApiServer::Tcp{"127.0.0.1", m_port, kToken});
    m_tcp = std::make_unique<httplib::Client>("127.0.0.1", m_port);
    // The TCP listener starts on a thread of its own: wait (20 s at most) until it answers.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!m_tcp->Get("/v1/vms") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
  }
  httplib::Result get(const std::string& path, const std::string& authorization) {
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    return m_tcp->Get(path, headers);
  }

  int m_port = 0;
  std::unique_ptr<httplib::Client> m_tcp;
};

TEST_F(ApiAuthTest, TcpWithoutTheTokenIs401NamingAuthorization) {
  auto res = get("/v1/vms", "");
  ASSERT_TRUE(res) << "no answer on port " << m_port;
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  EXPECT_EQ(body.value("field", ""), "authorization") << res->body;
  EXPECT_NE(body.value("error", "").find("bearer token"), std::string::npos) << res->body;
}

TEST_F(ApiAuthTest, AWrongOrMangledTokenIs401) {
  const std::string token = kToken;
  for (const std::string& authorization : std::vector<std::string>{
           "Bearer wrong", "Bearer " + token.substr(0, token.size() - 1), "Bearer " + token + "0",
           "Bearer  " + token, "Basic " + token, token, std::string("Bearer ")}) {
    auto res = get("/v1/vms", authorization);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << "Authorization: " << authorization;
  }
  // Every route is behind the check, not only the listing: a start, a delete, a job.
  for (const char* method : {"POST", "DELETE"}) {
    httplib::Result res =
        std::string(method) == "POST" ? m_tcp->Post("/v1/vms/a/start") : m_tcp->Delete("/v1/vms/a");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << method;
  }
  auto job = get("/v1/jobs/backup-1", "");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->status, 401);
}

TEST_F(ApiAuthTest, TheTokenOpensTcpAndTheSocketNeedsNone) {
  auto res = get("/v1/vms", std::string("Bearer ") + kToken);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  auto missing = get("/v1/vms/nobody", std::string("Bearer ") + kToken);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404) << "past the check, the API's own answers";
  EXPECT_EQ(send("GET", "/v1/vms").status, 200) << "the Unix socket";
}

}  // namespace
}  // namespace haven::daemon
