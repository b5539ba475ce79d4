// Clients that are slow, idle, greedy or hostile cannot take havend's API from everyone else
// (issue 21): long-lived streams hold at most a set share of the workers, bodies are capped
// before they are read, and a TCP client without the token sends no body that is kept.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "daemon/api_server.h"
#include "unit/daemon/api_harness.h"

namespace haven::daemon {
namespace {

class ApiLimitsTest : public ApiHarness {
 protected:
  // A raw connection to the API's Unix socket (or TCP port), for requests httplib's client
  // would not send, or not leave half sent.
  UniqueFd connect_unix() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string path = m_dir + "/api.sock";
    path.copy(address.sun_path, sizeof(address.sun_path) - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    set_timeout(fd.get());
    return fd;
  }
  UniqueFd connect_tcp(int port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    set_timeout(fd.get());
    return fd;
  }
  // Reads until the end of the answer's headers (10 s at most: a bound, not a clock).
  static std::string read_head(int fd) {
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && ::read(fd, &c, 1) == 1) head += c;
    return head;
  }
  static void send_text(int fd, const std::string& text) {
    ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
  }

 private:
  static void set_timeout(int fd) {
    timeval bound{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  }
};

// Answered while the client is still sending: the body was neither read nor buffered.
TEST_F(ApiLimitsTest, ABodyInChunksIsRefusedBeforeItIsRead) {
  serve();
  UniqueFd client = connect_unix();
  send_text(client.get(),
            "POST /v1/vms HTTP/1.1\r\nHost: havend\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/json\r\n\r\n10\r\n{\"name\": \"big\",\r\n");
  std::string head = read_head(client.get());
  EXPECT_TRUE(head.starts_with("HTTP/1.1 411")) << head;
  EXPECT_EQ(send("GET", "/v1/vms/big").status, 404) << "nothing was defined";
}

TEST_F(ApiLimitsTest, ABodyOverTheLimitIs413NamingTheBody) {
  serve();
  std::string huge = R"({"name": "big", "kernel": "/k", "cmdline": ")" +
                     std::string(ApiServer::kMaxBody, 'x') + "\"}";
  auto res = m_client->Post("/v1/vms", huge, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  EXPECT_EQ(body.value("field", ""), "body") << res->body;
  EXPECT_EQ(send("GET", "/v1/vms/big").status, 404);
}

TEST_F(ApiLimitsTest, StreamsCannotTakeEveryWorker) {
  serve();
  std::vector<UniqueFd> streams;
  for (size_t i = 0; i < ApiServer::kMaxStreams; ++i) {
    streams.push_back(connect_unix());
    send_text(streams.back().get(), "GET /v1/events HTTP/1.1\r\nHost: havend\r\n\r\n");
    std::string head = read_head(streams.back().get());
    ASSERT_TRUE(head.starts_with("HTTP/1.1 200")) << "stream " << i << ": " << head;
  }
  // One more is refused at once, and the rest of the API still answers.
  Answer refused = send("GET", "/v1/events");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.value("error", "").find("close one"), std::string::npos) << refused.body;
  for (int i = 0; i < 20; ++i) ASSERT_EQ(send("GET", "/v1/vms").status, 200) << "request " << i;
  // A stream that ends gives its slot back (once the server notices the client left).
  streams.pop_back();
  bool reopened = false;
  for (int attempt = 0; attempt < 200 && !reopened; ++attempt) {
    UniqueFd again = connect_unix();
    send_text(again.get(), "GET /v1/events HTTP/1.1\r\nHost: havend\r\n\r\n");
    reopened = read_head(again.get()).starts_with("HTTP/1.1 200");
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(reopened) << "the closed stream's slot never came back";
}

// A client without the token is answered before its body is read, so it cannot make havend
// hold one.
TEST_F(ApiLimitsTest, TcpWithoutTheTokenIsAnsweredBeforeTheBody) {
  serve(1.5,
        ApiServer::Tcp{
            "127.0.0.1", 0, {{TokenRole::admin, "a-token-of-some-length-0123456789", "admin"}}});
  UniqueFd client = connect_tcp(m_api->tcp_port());
  send_text(client.get(),
            "POST /v1/vms HTTP/1.1\r\nHost: havend\r\nContent-Type: application/json\r\n"
            "Content-Length: 900000\r\n\r\n{\"name\": ");
  std::string head = read_head(client.get());
  EXPECT_TRUE(head.starts_with("HTTP/1.1 401")) << head;
}

}  // namespace
}  // namespace haven::daemon
