#pragma once

// havend's REST API (docs/API.md): JSON over HTTP/1.1 on a Unix socket, routes under /v1.
// Bad requests get 400 with {"error": "...", "field": "..."}, unknown guests 404, requests
// the guest's state does not allow 409.

#include <memory>
#include <string>

#include "base/error.h"
#include "daemon/event_log.h"
#include "daemon/supervisor.h"
#include "daemon/vm_registry.h"

namespace httplib {
class Server;
}

namespace haven::daemon {

class ApiServer {
 public:
  ApiServer(VmRegistry& registry, Supervisor& supervisor, EventLog& events);
  ~ApiServer();

  // Binds `socket_path` (a stale socket there is replaced; mode 0660) and serves until stop().
  Result<void> serve_unix(const std::string& socket_path);
  void stop();

 private:
  void add_routes();

  VmRegistry& m_registry;
  Supervisor& m_supervisor;
  EventLog& m_events;
  std::unique_ptr<httplib::Server> m_server;
};

}  // namespace haven::daemon
