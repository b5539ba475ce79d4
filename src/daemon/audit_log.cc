#include "daemon/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sys.h"

namespace haven::daemon {

Result<AuditLog> AuditLog::open(const std::string& path) {
  auto fd = TRY(sys::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  return AuditLog(std::move(fd), path);
}

void AuditLog::append(const AuditEntry& entry) {
  if (!m_fd) return;
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json line = {{"time", now},        {"via", entry.via},
                         {"who", entry.who},   {"method", entry.method},
                         {"path", entry.path}, {"status", entry.status}};
  if (!entry.peer.empty()) line["peer"] = entry.peer;
  // A path may hold any byte (percent-decoded): invalid UTF-8 is replaced, never thrown on.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (::write(m_fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    log::warn("audit log {}: {}", m_path, std::strerror(errno));
}

}  // namespace haven::daemon
