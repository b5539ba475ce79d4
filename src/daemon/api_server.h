#pragma once

// havend's REST API (docs/API.md): JSON over HTTP/1.1 on a Unix socket, and optionally on
// TCP where every request needs the bearer token; routes under /v1.
// Errors answer {"error": "...", "field": "..."} (field when the error is about one) with the
// status of the error's kind (daemon/http_status.h): bad requests 400, unknown guests 404,
// requests the guest's state does not allow 409, failures of havend itself 500.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/unique_fd.h"
#include "daemon/audit_log.h"
#include "daemon/event_log.h"
#include "daemon/jobs.h"
#include "daemon/path_policy.h"
#include "daemon/repository_sessions.h"
#include "daemon/stream_slots.h"
#include "daemon/supervisor.h"
#include "daemon/tls_identity.h"
#include "daemon/token_file.h"
#include "daemon/vm_registry.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace haven::daemon {

class ApiServer {
 public:
  // Requests may name only files that `paths` allows (daemon/path_policy.h).
  ApiServer(VmRegistry& registry, Supervisor& supervisor, EventLog& events, PathPolicy paths);
  ~ApiServer();

  struct Tcp {
    std::string host;
    int port = 0;                  // 0: any free port (logged)
    std::vector<ApiToken> tokens;  // each with its role (daemon/token_file.h)
    // HTTPS with this identity; plain HTTP without (havend --plain-http only: behind a proxy
    // on the same host that ends TLS).
    std::optional<TlsIdentity> tls;
  };
  // Where every request that changes something is recorded (before serve()).
  void set_audit_log(AuditLog log) { m_audit = std::move(log); }
  // Binds `socket_path` (a stale socket there is replaced; mode 0660), and `tcp` when given,
  // and serves until stop(). The socket is claimed first (instance_lock.h), unless the caller
  // did and hands over `socket_claim` (havend does, before it daemonizes).
  Result<void> serve(const std::string& socket_path, const std::optional<Tcp>& tcp,
                     UniqueFd socket_claim = {});
  void stop();
  // The TCP port serving, once bound (0 before, or without TCP): the one the kernel picked
  // for port 0.
  int tcp_port() const { return m_tcp_port.load(); }

  // A query parameter a route takes: a number in [minimum, maximum], whole when `integer`.
  // route() checks every request's query before its handler runs: a parameter the route does
  // not take, one given twice, or a value out of form or range is answered 400 naming it.
  struct QueryParameter {
    std::string name;
    bool integer = false;
    double minimum = 0;
    double maximum = 0;
  };
  struct Route {
    std::string method;   // GET, POST, PUT, DELETE
    std::string pattern;  // the path as a regular expression: /v1/vms/([^/]+)
    std::vector<QueryParameter> query;
  };
  // Every route served, in the order registered (the OpenAPI contract test walks them).
  const std::vector<Route>& routes() const { return m_routes; }

  // Each server's worker threads, and how many of them long-lived responses (event streams,
  // followed consoles) may hold at once: the rest stay free for other requests.
  static constexpr size_t kWorkers = 64;
  static constexpr size_t kMaxStreams = 48;
  // A request's body at most (a VM definition is a few KiB); larger ones are answered 413,
  // and a body of unknown length (chunked) 411, before they are read.
  static constexpr size_t kMaxBody = 1 << 20;
  // A TCP client has this long to send each part of its request (and an idle kept-alive
  // connection this long before it is closed), so connections that say nothing, holding a
  // worker each, go fast.
  static constexpr int kTcpIdleSeconds = 2;

 private:
  // Every route, in one file per resource: api_vms.cc, api_protection.cc, api_console.cc.
  void add_routes(httplib::Server& server);
  void add_vm_routes(httplib::Server& server, std::vector<Route>* routes);
  void add_protection_routes(httplib::Server& server, std::vector<Route>* routes);
  // `streams`: the server's own slots for long-lived responses.
  void add_console_routes(httplib::Server& server, std::vector<Route>* routes,
                          StreamSlots& streams);
  void restore_backup(const nlohmann::json& body, httplib::Response& res);
  // The guest named in the path (its first match), or nullopt with a 404 already sent.
  std::optional<VmDefinition> lookup(const httplib::Request& req, httplib::Response& res);

  VmRegistry& m_registry;
  Supervisor& m_supervisor;
  EventLog& m_events;
  const PathPolicy m_paths;
  AuditLog m_audit;
  std::vector<ApiToken> m_tokens;  // TCP's
  // Event streams and followed consoles, per server: a TCP client cannot take the socket's.
  StreamSlots m_socket_streams{kMaxStreams};
  StreamSlots m_tcp_streams{kMaxStreams};
  RepositorySessions m_repositories;  // before the jobs, which use it
  Jobs m_jobs;             // before the servers: their handlers may start jobs until they stop
  UniqueFd m_socket_lock;  // held while serving (instance_lock.h)
  std::unique_ptr<httplib::Server> m_server;  // the Unix socket
  std::unique_ptr<httplib::Server> m_tcp;
  std::jthread m_tcp_thread;
  std::atomic<int> m_tcp_port = 0;
  std::vector<Route> m_routes;
};

}  // namespace haven::daemon
