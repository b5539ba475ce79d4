#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "base/mutex.h"

namespace haven::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<bool> g_raw{false};
Mutex g_mutex;
std::string g_program HAVEN_GUARDED_BY(g_mutex) = "haven";

const char* level_name(Level level) {
  switch (level) {
    case Level::debug:
      return "debug: ";
    case Level::info:
      return "";
    case Level::warn:
      return "warning: ";
    case Level::error:
      return "error: ";
  }
  return "";
}

}  // namespace

void set_program_name(std::string_view name) {
  MutexLock lock(g_mutex);
  g_program = name;
}
void set_level(Level level) {
  g_level = level;
}
Level level() {
  return g_level;
}
void set_raw_terminal(bool raw) {
  g_raw = raw;
}

void write(Level level, std::string_view message) {
  MutexLock lock(g_mutex);
  std::string line =
      fmt::format("{}: {}{}{}", g_program, level_name(level), message, g_raw ? "\r\n" : "\n");
  // Best effort: a failed write to stderr has nowhere to be reported.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace haven::log
