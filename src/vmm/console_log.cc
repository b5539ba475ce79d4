#include "vmm/console_log.h"

#include <fcntl.h>

#include <vector>

#include "base/sys.h"

namespace haven::vmm {
namespace {

// The last `max_bytes` of `path` (all of it when shorter); empty when it does not exist.
Result<std::string> read_tail(const std::string& path, uint64_t max_bytes) {
  auto opened = sys::open_data_file(path, O_RDONLY | O_CLOEXEC);
  if (!opened && opened.error().code() == ENOENT) return std::string();
  UniqueFd fd = TRY(std::move(opened));
  auto size = static_cast<uint64_t>(TRY(sys::stat_fd(fd.get(), path)).st_size);
  uint64_t length = std::min(size, max_bytes);
  std::string tail(length, '\0');
  // A log being written grows meanwhile, and a VMM starting afresh truncates it: what is
  // there when read is what is served.
  size_t got = 0;
  while (got < tail.size()) {
    auto some = TRY(sys::read_some_at(
        fd.get(), {reinterpret_cast<uint8_t*>(tail.data()) + got, tail.size() - got},
        size - length + got));
    if (some == 0) break;
    got += some;
  }
  tail.resize(got);
  return tail;
}

}  // namespace

std::string previous_console_log(const std::string& log_path) {
  return log_path + ".1";
}

Result<std::string> read_console_log_tail(const std::string& log_path, uint64_t max_bytes) {
  std::string current = TRY(read_tail(log_path, max_bytes));
  if (current.size() >= max_bytes) return current;
  std::string earlier = TRY(read_tail(previous_console_log(log_path), max_bytes - current.size()));
  return earlier + current;
}

}  // namespace haven::vmm
