#pragma once

// havend's audit log (issue 21): one JSON line per request that changes something (every
// method but GET), after it was answered: when, through which door and by whom, what, and
// the result. Appended to STATE/audit.log (mode 0600); a line is one write, so lines from
// the API's threads never interleave.

#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace haven::daemon {

struct AuditEntry {
  std::string via;   // "socket" or "tcp"
  std::string who;   // the token's name and role on TCP; on the socket, whoever may open it
  std::string peer;  // the TCP client's address
  std::string method, path;
  int status = 0;
};

class AuditLog {
 public:
  static Result<AuditLog> open(const std::string& path);
  AuditLog() = default;  // logs nothing (tests that do not look)
  // Appends ENTRY stamped with the time; a failure to write is logged, never fatal.
  void append(const AuditEntry& entry);

 private:
  explicit AuditLog(UniqueFd fd, std::string path) : m_fd(std::move(fd)), m_path(std::move(path)) {}
  UniqueFd m_fd;
  std::string m_path;
};

}  // namespace haven::daemon
