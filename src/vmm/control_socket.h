#pragma once

// haven-vmm's control socket, through which havend pauses, resumes, snapshots and backs up
// a running guest. One request per connection: a JSON object on one line, answered by one
// JSON line, then the VMM closes the connection. The ops and their messages are typed in
// vmm/control_protocol.h, which both sides use. Failures answer
// {"error": "one line", "kind": "conflict", "field": "state"} (kind and field when known).
// Requests are served one at a time on the VMM's main thread (a snapshot holds it while it
// writes).

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/event_loop.h"
#include "base/unique_fd.h"

namespace haven::vmm {

class ControlSocket {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  // Listens at `path` (mode 0600).
  static Result<std::unique_ptr<ControlSocket>> open(const std::string& path);
  ControlSocket(UniqueFd listener, std::string path)
      : m_listener(std::move(listener)), m_path(std::move(path)) {}
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  Result<void> attach(EventLoop& loop, Handler handler);

 private:
  void serve_one(const Handler& handler);

  UniqueFd m_listener;
  std::string m_path;
};

// The client side: sends `request` to the VMM at `path` and returns its answer; an
// {"error": ..., "kind": ..., "field": ...} answer becomes an error of that kind.
// `timeout` bounds the whole exchange.
Result<nlohmann::json> control_request(const std::string& path, const nlohmann::json& request,
                                       std::chrono::milliseconds timeout);

// The VMM's answer for a failed request: the error's message, kind and field.
nlohmann::json control_error_answer(const Error& error);

}  // namespace haven::vmm
