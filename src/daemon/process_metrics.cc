#include "daemon/process_metrics.h"

#include <unistd.h>

#include <sstream>
#include <string>

#include "base/sys.h"

namespace haven::daemon {
namespace {

Result<std::string> read_proc(pid_t pid, const char* file) {
  return sys::read_until_end(fmt::format("/proc/{}/{}", pid, file), 1 << 20);
}

// The number after "Key:" in a /proc key-value file, or 0.
uint64_t field(const std::string& text, const std::string& key) {
  size_t at = text.find("\n" + key + ":");
  if (at == std::string::npos && text.starts_with(key + ":"))
    at = 0;
  else if (at != std::string::npos)
    at += 1;
  else
    return 0;
  return std::strtoull(text.c_str() + at + key.size() + 1, nullptr, 10);
}

}  // namespace

Result<ProcessMetrics> read_process_metrics(pid_t pid) {
  ProcessMetrics metrics;
  std::string stat = TRY(read_proc(pid, "stat"));
  // Fields after the command (which may hold spaces) start after the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return make_error("/proc/{}/stat: no command field", pid);
  std::istringstream rest(stat.substr(close + 2));
  std::string value;
  uint64_t utime = 0, stime = 0;
  for (int index = 3; rest >> value; ++index) {  // field numbers as in proc(5)
    if (index == 14) utime = std::stoull(value);
    if (index == 15) stime = std::stoull(value);
    if (index == 20) metrics.threads = static_cast<uint32_t>(std::stoul(value));
  }
  metrics.cpu_seconds =
      static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::string status = TRY(read_proc(pid, "status"));
  metrics.rss_bytes = field(status, "VmRSS") * 1024;
  if (auto io = read_proc(pid, "io")) {  // absent without CONFIG_TASK_IO_ACCOUNTING
    metrics.read_bytes = field(*io, "rchar");
    metrics.write_bytes = field(*io, "wchar");
  }
  return metrics;
}

}  // namespace haven::daemon
