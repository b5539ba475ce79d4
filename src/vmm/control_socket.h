#pragma once

// haven-vmm's control socket, through which havend pauses, resumes and snapshots a running
// guest. One request per connection: a JSON object on one line, answered by one JSON line,
// then the VMM closes the connection.
//   {"op": "status"}                    {"ok": true, "paused": false}
//   {"op": "stats"}                     {"ok": true, "vcpus": [{"id", "cpu_seconds", "exits",
//                                       ...}], "devices": [{"name", "slot", "read_bytes", ...}]}
//   {"op": "pause"} / {"op": "resume"}  {"ok": true}
//   {"op": "power_button"}              {"ok": true} (the guest sees an ACPI power button press)
//   {"op": "snapshot", "dir": "/abs"}   {"ok": true, "memory_bytes": N, "paused_ms": T, ...}
//   {"op": "backup_begin", "disks": [{"disk": 0, "state": "/abs", "data": "/abs",
//    "baseline": "R/S", "granularity": CHUNK}, ...]}
//                                       {"ok": true, "views": [{"incremental": true,
//                                       "wanted_blocks": N, "disk_bytes", "granularity",
//                                       "path"}, ...]} (all taken in one pause)
//   {"op": "backup_end", "disk": 0, "commit": true, "baseline": "R/S"}   {"ok": true}
//   {"op": "fill", "paused": true}      {"ok": true, "disks": N} (restoring disks' fill)
// Failures answer {"error": "one line"}. Requests are served one at a time on the VMM's main
// thread (a snapshot holds it while it writes).

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
