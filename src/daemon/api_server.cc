#include "daemon/api_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sys.h"
#include "daemon/api_replies.h"
#include "daemon/instance_lock.h"
#include "daemon/token_file.h"

namespace haven::daemon {
namespace {

// A body is taken only with a Content-Length of at most kMaxBody, decided from the headers
// before a byte of it is read: httplib would buffer a chunked body, or one without a length
// (read until the client closes), whole, and would read (and discard) a too long one before
// answering. Every HTTP client sends a Content-Length with a POST or PUT. What is refused is
// never read: the connection closes after the answer (one request per connection).
httplib::Server::HandlerResponse refuse_unbounded_body(const httplib::Request& req,
                                                       httplib::Response& res) {
  bool takes_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
  if (req.has_header("Transfer-Encoding") || (takes_body && !req.has_header("Content-Length"))) {
    reply(res, 411,
          {{"error", "body: send it with a Content-Length (at most 1 MiB), not in chunks"},
           {"field", "body"}});
    return httplib::Server::HandlerResponse::Handled;
  }
  if (req.has_header("Content-Length")) {
    std::string length = req.get_header_value("Content-Length");
    char* end = nullptr;
    unsigned long long bytes = std::strtoull(length.c_str(), &end, 10);
    if (length.empty() || *end != '\0' || bytes > ApiServer::kMaxBody) {
      reply(res, 413, {{"error", "body: larger than 1 MiB"}, {"field", "body"}});
      return httplib::Server::HandlerResponse::Handled;
    }
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

// The token a request's "Authorization: Bearer ..." header carries, if it is one of TOKENS.
std::optional<ApiToken> bearer_token(const httplib::Request& req,
                                     const std::vector<ApiToken>& tokens) {
  std::string given = req.get_header_value("Authorization");
  if (!given.starts_with("Bearer ")) return std::nullopt;
  return find_token(std::string_view(given).substr(7), tokens);
}

}  // namespace

ApiServer::ApiServer(VmRegistry& registry, Supervisor& supervisor, EventLog& events,
                     PathPolicy paths)
    : m_registry(registry),
      m_supervisor(supervisor),
      m_events(events),
      m_paths(std::move(paths)),
      m_server(std::make_unique<httplib::Server>()) {
  add_routes(*m_server);
}

ApiServer::~ApiServer() {
  if (m_tcp) m_tcp->stop();  // before m_tcp_thread joins
}

void ApiServer::stop() {
  m_events.close();
  m_server->stop();
  if (m_tcp) m_tcp->stop();
}

Result<void> ApiServer::serve(const std::string& socket_path, const std::optional<Tcp>& tcp,
                              UniqueFd socket_claim) {
  // The socket is claimed before anything is bound, so a second daemon on it leaves the first
  // one's alone.
  m_socket_lock = socket_claim ? std::move(socket_claim) : TRY(claim_socket(socket_path));
  if (tcp) {
    if (tcp->tls) {
      // What tls_identity checked, not the files again (they may have changed since).
      auto secure =
          std::make_unique<httplib::SSLServer>(tcp->tls->certificate.get(), tcp->tls->key.get());
      bool valid = secure->is_valid();
      for (const auto& intermediate : tcp->tls->chain)
        valid = valid && SSL_CTX_add1_chain_cert(secure->ssl_context(), intermediate.get()) == 1;
      // TLS 1.2 at least (OpenSSL's default security level refuses older ones already).
      valid = valid && SSL_CTX_set_min_proto_version(secure->ssl_context(), TLS1_2_VERSION) == 1;
      if (!valid) {
        char reason[256] = "OpenSSL gave no reason";
        if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, reason, sizeof(reason));
        ERR_clear_error();
        return make_error("TLS: OpenSSL refused the certificate {} or the key {}: {}",
                          tcp->tls->certificate_path, tcp->tls->key_path, reason);
      }
      m_tcp = std::move(secure);
    } else {
      m_tcp = std::make_unique<httplib::Server>();
    }
    m_tokens = tcp->tokens;  // before the routes: the audit log names their holders
    add_routes(*m_tcp);
    m_tcp->set_read_timeout(kTcpIdleSeconds, 0);
    m_tcp->set_keep_alive_timeout(kTcpIdleSeconds);
    std::vector<ApiToken> tokens = tcp->tokens;
    // Before the body is read: a client without a token sends none that is kept.
    m_tcp->set_pre_routing_handler([tokens](const httplib::Request& req, httplib::Response& res) {
      auto token = bearer_token(req, tokens);
      if (!token) {
        res.set_header("WWW-Authenticate", "Bearer");
        reply(res, 401,
              {{"error", "authorization: send a bearer token of havend --token-file"},
               {"field", "authorization"}});
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!role_allows(token->role, req.method, req.path)) {
        reply(res, 403,
              {{"error", fmt::format("authorization: an {} token may not {} {}",
                                     role_name(token->role), req.method, req.path)},
               {"field", "authorization"}});
        return httplib::Server::HandlerResponse::Handled;
      }
      return refuse_unbounded_body(req, res);
    });
    int port = tcp->port == 0 ? m_tcp->bind_to_any_port(tcp->host)
                              : (m_tcp->bind_to_port(tcp->host, tcp->port) ? tcp->port : -1);
    if (port < 0) return errno_error("bind the API to {}:{}", tcp->host, tcp->port);
    if (tcp->tls)
      log::info("API on https://{}:{} (bearer token required; certificate {}, {})", tcp->host, port,
                tcp->tls->certificate_path, tcp->tls->fingerprint);
    else
      log::info("API on http://{}:{} (bearer token required; plain HTTP, --plain-http)", tcp->host,
                port);
    m_tcp_port = port;
    auto ended = std::make_shared<std::atomic<bool>>(false);
    m_tcp_thread = std::jthread([this, ended] {
      if (!m_tcp->listen_after_bind()) log::error("the TCP API stopped");
      *ended = true;
    });
    // Serving before going on: httplib's stop() does nothing to a server not yet running, so
    // a stop() in between would leave the thread in accept() and its join hanging.
    while (!m_tcp->is_running() && !*ended) std::this_thread::yield();
  }
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error("{} exists and is not a socket: not replacing it", socket_path);
    ::unlink(socket_path.c_str());
  }
  m_server->set_address_family(AF_UNIX);
  int listening = -1;
  m_server->set_socket_options([&listening](socket_t sock) { listening = sock; });
  if (!m_server->bind_to_port(socket_path.c_str(), 80))
    return errno_error("bind the API socket {}", socket_path);
  // Debian's httplib (a compiled library: CPPHTTPLIB_LISTEN_BACKLOG does nothing) listens with
  // a backlog of 5, and a Unix socket refuses a client past it outright (ECONNREFUSED, with no
  // retry as TCP has): the 6th of clients connecting at once failed. listen() again raises it.
  if (listening < 0 || ::listen(listening, SOMAXCONN) != 0)
    log::warn("API socket {}: backlog left at httplib's 5", socket_path);
  if (::chmod(socket_path.c_str(), 0660) != 0) return errno_error("chmod {}", socket_path);
  log::info("API on {}", socket_path);
  if (!m_server->listen_after_bind()) return make_error("the API server on {} failed", socket_path);
  return {};
}

void ApiServer::add_routes(httplib::Server& server) {
  // The Unix socket's server is set up first, in the constructor: its routes are the record.
  std::vector<Route>* routes = &server == m_server.get() ? &m_routes : nullptr;
  // httplib owns the queue it is handed (its API takes a raw pointer).
  server.new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  server.set_payload_max_length(kMaxBody);
  // One request per connection: a refused request's unread body can never be taken for the
  // next request (httplib closes only when the request asks it to, or at this count).
  server.set_keep_alive_max_count(1);
  server.set_pre_routing_handler(refuse_unbounded_body);  // TCP's adds the token check
  // What httplib answers by itself (a body over the limit, a request it cannot parse, a path
  // no route takes) gets the API's JSON error too.
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string what = res.status == 413 ? "body: larger than 1 MiB"
                           : res.status == 404
                               ? "no such route (docs/API.md lists them)"
                               : fmt::format("HTTP {}: the request cannot be served", res.status);
        nlohmann::json body = {{"error", what}};
        if (res.status == 413) body["field"] = "body";
        reply(res, res.status, body);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        reply_error(res, Error::from_message(what));
      });
  bool via_tcp = &server != m_server.get();
  server.set_logger([this, via_tcp](const httplib::Request& req, const httplib::Response& res) {
    log::debug("{} {} -> {}", req.method, req.path, res.status);
    if (req.method == "GET" || req.method == "HEAD") return;  // changes nothing
    try {  // httplib calls this outside its own try: whatever it throws would end havend
      AuditEntry entry{.via = via_tcp ? "tcp" : "socket",
                       .who = "whoever may open the socket",
                       .peer = {},
                       .method = req.method,
                       .path = req.path,
                       .status = res.status};
      if (via_tcp) {
        auto token = bearer_token(req, m_tokens);
        entry.who =
            token ? fmt::format("{} ({})", token->name, role_name(token->role)) : "no valid token";
        entry.peer = req.remote_addr;
      }
      m_audit.append(entry);
    } catch (const std::exception& error) {
      log::warn("audit log: {}", error.what());
    }
  });
  add_vm_routes(server, routes);
  add_protection_routes(server, routes);
  add_console_routes(server, routes, via_tcp ? m_tcp_streams : m_socket_streams);
}

std::optional<VmDefinition> ApiServer::lookup(const httplib::Request& req, httplib::Response& res) {
  std::string name = req.matches[1];
  auto found = m_registry.find(name);
  if (found) return found;
  if (auto broken = m_registry.find_broken(name))
    reply_error(res, kind_error(ErrorKind::conflict,
                                "'{}' cannot be used: {}; mend the file and restart havend, or "
                                "delete the guest",
                                name, broken->error));
  else
    reply_error(res, kind_error(ErrorKind::not_found, "no VM named '{}'", name));
  return std::nullopt;
}

}  // namespace haven::daemon
