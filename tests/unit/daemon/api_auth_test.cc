// The API over TCP answers only requests carrying havend's bearer token (401 otherwise, with
// WWW-Authenticate and the field named); the Unix socket, guarded by its file mode, needs none.

#include <gtest/gtest.h>

#include <sstream>

#include "base/sys.h"

#include "daemon/api_server.h"
#include "daemon/audit_log.h"
#include "unit/daemon/api_harness.h"

namespace haven::daemon {
namespace {

class ApiAuthTest : public ApiHarness {
 protected:
  static constexpr const char* kToken = "4f1c0e9a7b2d4c6e8f0a1b3c5d7e9f02";
  static constexpr const char* kReadOnly = "read-only-token-0123456789";
  static constexpr const char* kOperator = "operator-token-0123456789";

  void SetUp() override {
    ApiHarness::SetUp();
    // As havend serves TCP: HTTPS with a self-signed certificate of its own.
    auto identity = self_signed_tls_identity(m_dir + "/tls", "127.0.0.1");
    ASSERT_TRUE(identity) << identity.error().message();
    m_identity = *identity;
    // Port 0: the kernel picks a free one (no race with other tests for a number).
    serve(1.5, ApiServer::Tcp{"127.0.0.1",
                              0,
                              {{TokenRole::admin, kToken, "admin"},
                               {TokenRole::read_only, kReadOnly, "grafana"},
                               {TokenRole::operator_, kOperator, "robot"}},
                              m_identity});
    // serve() returned once the Unix socket answered, and TCP is bound before that.
    m_port = m_api->tcp_port();
    ASSERT_GT(m_port, 0) << "the TCP API did not bind";
    m_tcp = https_client(m_identity.certificate_path);
  }
  // A client that trusts CERTIFICATE only, and checks the name (127.0.0.1) against it.
  std::unique_ptr<httplib::Client> https_client(const std::string& certificate) {
    auto client = std::make_unique<httplib::Client>(fmt::format("https://127.0.0.1:{}", m_port));
    client->set_ca_cert_path(certificate);
    client->enable_server_certificate_verification(true);
    return client;
  }
  TlsIdentity m_identity;
  httplib::Result call(const std::string& method, const std::string& path, const std::string& token,
                       const std::string& body = "{}") {
    httplib::Headers headers{{"Authorization", "Bearer " + token}};
    if (method == "GET") return m_tcp->Get(path, headers);
    if (method == "DELETE") return m_tcp->Delete(path, headers);
    if (method == "PUT") return m_tcp->Put(path, headers, body, "application/json");
    return m_tcp->Post(path, headers, body, "application/json");
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

// A read-only token reads; an operator's runs and protects guests; only an admin's defines
// them. Each refusal is 403 naming the role and what it may not do, and nothing changes.
TEST_F(ApiAuthTest, EachRoleMayDoItsShareOnly) {
  std::string definition = vm("a").dump();
  auto refused = call("POST", "/v1/vms", kOperator, definition);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  EXPECT_NE(refused->body.find("an operator token may not POST /v1/vms"), std::string::npos)
      << refused->body;
  auto read_only = call("POST", "/v1/vms", kReadOnly, definition);
  ASSERT_TRUE(read_only);
  EXPECT_EQ(read_only->status, 403);
  EXPECT_EQ(send("GET", "/v1/vms/a").status, 404) << "nothing was defined";
  auto made = call("POST", "/v1/vms", kToken, definition);
  ASSERT_TRUE(made);
  EXPECT_EQ(made->status, 201) << made->body;
  // Starting is an operator's; reading is everyone's.
  auto start = call("POST", "/v1/vms/a/start", kReadOnly);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->status, 403);
  auto started = call("POST", "/v1/vms/a/start", kOperator);
  ASSERT_TRUE(started);
  EXPECT_EQ(started->status, 200) << started->body;
  auto shown = call("GET", "/v1/vms/a", kReadOnly);
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->status, 200);
  auto stopped = call("POST", "/v1/vms/a/kill", kOperator);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->status, 200) << stopped->body;
  auto removed = call("DELETE", "/v1/vms/a", kOperator);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 403);
  EXPECT_EQ(send("GET", "/v1/vms/a").status, 200) << "still defined";
}

// Every request that changes something is in the audit log: when, which door, whose token,
// what, and how it ended; refusals too.
TEST_F(ApiAuthTest, ChangesAreAuditedWithWhoAndTheResult) {
  m_api->stop();
  m_serving.join();
  m_api.reset();
  auto audit = AuditLog::open(m_dir + "/audit.log");
  ASSERT_TRUE(audit) << audit.error().message();
  m_audit = std::move(*audit);
  serve(1.5, ApiServer::Tcp{
                 "127.0.0.1",
                 0,
                 {{TokenRole::admin, kToken, "admin"}, {TokenRole::operator_, kOperator, "robot"}},
                 m_identity});
  m_port = m_api->tcp_port();
  m_tcp = https_client(m_identity.certificate_path);
  ASSERT_EQ(post("/v1/vms", vm("a")).status, 201);                          // the socket
  ASSERT_TRUE(call("GET", "/v1/vms", kOperator));                           // reads are not audited
  ASSERT_TRUE(call("DELETE", "/v1/vms/a", kOperator));                      // refused: 403
  ASSERT_TRUE(call("POST", "/v1/vms/a/start", "forged-token-0123456789"));  // 401
  m_api->stop();  // the logger runs after each answer: stopped, every line is written
  m_serving.join();
  auto text = sys::read_until_end(m_dir + "/audit.log", 1 << 20);
  ASSERT_TRUE(text) << text.error().message();
  std::vector<nlohmann::json> lines;
  std::istringstream stream(*text);
  for (std::string line; std::getline(stream, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u) << *text;
  // A line is written once its answer is sent: the order of lines from different connections
  // may differ from that of the requests.
  auto line_of = [&](const std::string& method, const std::string& path) {
    for (const auto& line : lines)
      if (line.value("method", "") == method && line.value("path", "") == path) return line;
    ADD_FAILURE() << "no line for " << method << " " << path << " in " << *text;
    return nlohmann::json::object();
  };
  auto made = line_of("POST", "/v1/vms");
  EXPECT_EQ(made.value("via", ""), "socket");
  EXPECT_EQ(made.value("status", 0), 201);
  EXPECT_GT(made.value("time", 0.0), 1.7e9);
  auto refused = line_of("DELETE", "/v1/vms/a");
  EXPECT_EQ(refused.value("via", ""), "tcp");
  EXPECT_EQ(refused.value("who", ""), "robot (operator)");
  EXPECT_EQ(refused.value("status", 0), 403);
  EXPECT_EQ(refused.value("peer", ""), "127.0.0.1");
  auto forged = line_of("POST", "/v1/vms/a/start");
  EXPECT_EQ(forged.value("who", ""), "no valid token");
  EXPECT_EQ(forged.value("status", 0), 401);
}

TEST_F(ApiAuthTest, TcpIsHttpsWithTheCertificateHavendMade) {
  // The fixture's client trusts that certificate alone and checks 127.0.0.1 against it.
  auto res = m_tcp->Get("/v1/vms", {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_TRUE(res) << "no HTTPS answer: " << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  // Plain HTTP to the same port gets no answer: nothing travels unencrypted.
  httplib::Client plain("127.0.0.1", m_port);
  plain.set_read_timeout(2, 0);
  EXPECT_FALSE(plain.Get("/v1/vms", {{"Authorization", std::string("Bearer ") + kToken}}));
  // A client that trusts another certificate refuses this server.
  auto other = self_signed_tls_identity(m_dir + "/other-tls", "127.0.0.1");
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_NE(other->fingerprint, m_identity.fingerprint);
  auto doubtful = https_client(other->certificate_path);
  auto refused = doubtful->Get("/v1/vms", {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), httplib::Error::SSLServerVerification);
}

}  // namespace
}  // namespace haven::daemon
