// Clients that are slow, idle, greedy or hostile cannot take havend's API from everyone else
// (issue 21): long-lived streams hold at most a set share of the workers, bodies are capped
// before they are read, and a TCP client without the token sends no body that is kept.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "daemon/api_server.h"
#include "daemon/audit_log.h"
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
  // After the answer's head: its body (Content-Length bytes), then the end of the connection.
  // (and that body holds `expected`).
  static bool ends_after_answer(int fd, const std::string& head, const std::string& expected = {}) {
    size_t at = head.find("Content-Length: ");
    size_t length = at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
    std::string body(length, '\0');
    size_t got = 0;
    while (got < length) {
      ssize_t n = ::read(fd, body.data() + got, length - got);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    EXPECT_NE(body.find(expected), std::string::npos) << body;
    char more;
    return ::read(fd, &more, 1) == 0;
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
  // The connection ends after the answer: the unread body is never taken for a request.
  EXPECT_TRUE(ends_after_answer(client.get(), head));
  EXPECT_EQ(send("GET", "/v1/vms/big").status, 404) << "nothing was defined";
}

// Without a length a body would be read until the client closes: refused from the headers.
TEST_F(ApiLimitsTest, ABodyWithoutALengthIsRefusedBeforeItIsRead) {
  serve();
  UniqueFd client = connect_unix();
  send_text(client.get(),
            "POST /v1/vms HTTP/1.1\r\nHost: havend\r\nContent-Type: application/json\r\n\r\n"
            "{\"name\": ");
  std::string head = read_head(client.get());
  EXPECT_TRUE(head.starts_with("HTTP/1.1 411")) << head;
  EXPECT_TRUE(ends_after_answer(client.get(), head));
}

// A length over the limit is answered from the headers, not after reading what it announces.
TEST_F(ApiLimitsTest, ALengthOverTheLimitIsRefusedBeforeTheBody) {
  serve();
  UniqueFd client = connect_unix();
  send_text(client.get(),
            "POST /v1/vms HTTP/1.1\r\nHost: havend\r\nContent-Type: application/json\r\n"
            "Content-Length: 900000000000\r\n\r\n{");
  std::string head = read_head(client.get());
  EXPECT_TRUE(head.starts_with("HTTP/1.1 413")) << head;
  EXPECT_TRUE(ends_after_answer(client.get(), head, "\"field\":\"body\""));
  EXPECT_EQ(send("GET", "/v1/vms").body["vms"].size(), 0u) << "nothing was defined";
}

// A path of bytes that are not UTF-8 is echoed in errors and in the audit log: replaced,
// never thrown on (it ended havend once).
TEST_F(ApiLimitsTest, APathThatIsNotUtf8IsAnsweredAndAudited) {
  auto audit = AuditLog::open(m_dir + "/audit.log");
  ASSERT_TRUE(audit) << audit.error().message();
  m_audit = std::move(*audit);
  serve();
  for (const char* path : {"/%ff", "/v1/vms/%ff%fe/start", "/v1/vms/%c3"}) {
    UniqueFd client = connect_unix();
    send_text(client.get(), std::string("POST ") + path +
                                " HTTP/1.1\r\nHost: havend\r\nContent-Length: 0\r\n\r\n");
    std::string head = read_head(client.get());
    EXPECT_TRUE(head.starts_with("HTTP/1.1 4")) << path << ": " << head;
  }
  EXPECT_EQ(send("GET", "/v1/vms").status, 200) << "havend still answers";
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
  serve(1.5, ApiServer::Tcp{"127.0.0.1",
                            0,
                            {{TokenRole::admin, "a-token-of-some-length-0123456789", "admin"}},
                            std::nullopt});  // plain HTTP: this test speaks it over a raw socket
  UniqueFd client = connect_tcp(m_api->tcp_port());
  send_text(client.get(),
            "POST /v1/vms HTTP/1.1\r\nHost: havend\r\nContent-Type: application/json\r\n"
            "Content-Length: 900000\r\n\r\n{\"name\": ");
  std::string head = read_head(client.get());
  EXPECT_TRUE(head.starts_with("HTTP/1.1 401")) << head;
}

// A TLS client that opens a long-lived response (trusting any certificate: what is tested is
// the server's side).
struct TlsStream {
  UniqueFd fd;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{nullptr, &SSL_free};
};

// Over TLS too, a stream whose client hangs up cleanly (close_notify, then FIN) gives its slot
// back: the close_notify left unread must not make the socket look alive for ever.
TEST_F(ApiLimitsTest, ATlsStreamClosedCleanlyGivesItsSlotBack) {
  auto identity = self_signed_tls_identity(m_dir + "/tls", "127.0.0.1");
  ASSERT_TRUE(identity) << identity.error().message();
  serve(1.5, ApiServer::Tcp{"127.0.0.1",
                            0,
                            {{TokenRole::admin, "a-token-of-some-length-0123456789", "admin"}},
                            *identity});
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()),
                                                            &SSL_CTX_free);
  ASSERT_TRUE(context);
  auto open_stream = [&](TlsStream& stream) {
    stream.fd = connect_tcp(m_api->tcp_port());
    stream.ssl.reset(SSL_new(context.get()));
    SSL_set_fd(stream.ssl.get(), stream.fd.get());
    if (SSL_connect(stream.ssl.get()) != 1) return std::string("no handshake");
    std::string request =
        "GET /v1/events HTTP/1.1\r\nHost: havend\r\n"
        "Authorization: Bearer a-token-of-some-length-0123456789\r\n\r\n";
    SSL_write(stream.ssl.get(), request.data(), static_cast<int>(request.size()));
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && SSL_read(stream.ssl.get(), &c, 1) == 1)
      head += c;
    return head;
  };
  std::vector<TlsStream> streams(ApiServer::kMaxStreams);
  for (TlsStream& stream : streams) ASSERT_TRUE(open_stream(stream).starts_with("HTTP/1.1 200"));
  TlsStream refused;
  EXPECT_TRUE(open_stream(refused).starts_with("HTTP/1.1 503")) << "every slot is taken";
  // One client says goodbye as TLS clients do, and hangs up.
  SSL_shutdown(streams.back().ssl.get());
  streams.pop_back();
  bool reopened = false;
  for (int attempt = 0; attempt < 100 && !reopened; ++attempt) {
    TlsStream again;
    reopened = open_stream(again).starts_with("HTTP/1.1 200");
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(reopened) << "the TLS stream's slot never came back";
}

}  // namespace
}  // namespace haven::daemon
