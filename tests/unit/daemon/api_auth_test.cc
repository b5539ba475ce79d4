// The API over TCP answers only requests carrying havend's bearer token (401 otherwise, with
// WWW-Authenticate and the field named); the Unix socket, guarded by its file mode, needs none.

#include <gtest/gtest.h>

#include "daemon/api_server.h"
#include "unit/daemon/api_harness.h"

namespace haven::daemon {
namespace {

class ApiAuthTest : public ApiHarness {
 protected:
  static constexpr const char* kToken = "4f1c0e9a7b2d4c6e8f0a1b3c5d7e9f02";

  void SetUp() override {
    ApiHarness::SetUp();
    // Port 0: the kernel picks a free one (no race with other tests for a number).
    serve(1.5, ApiServer::Tcp{"127.0.0.1", 0, kToken});
    // serve() returned once the Unix socket answered, and TCP is bound before that.
    m_port = m_api->tcp_port();
    ASSERT_GT(m_port, 0) << "the TCP API did not bind";
    m_tcp = std::make_unique<httplib::Client>("127.0.0.1", m_port);
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
