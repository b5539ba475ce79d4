#include "base/terminal.h"

#include <unistd.h>

#include <atomic>
#include <utility>

#include "base/log.h"

namespace haven {

namespace {

// The terminal in raw mode, for restore_terminal_before_dying(). One at a time (haven-vmm's
// stdio); written before raw mode is entered and cleared after it is left.
std::atomic<int> g_raw_fd{-1};
termios g_raw_saved{};

}  // namespace

void restore_terminal_before_dying() {
  int fd = g_raw_fd.exchange(-1);
  if (fd >= 0) ::tcsetattr(fd, TCSANOW, &g_raw_saved);
}

Result<std::optional<RawTerminal>> RawTerminal::enable(int fd) {
  if (!::isatty(fd)) return std::optional<RawTerminal>();
  termios saved{};
  if (::tcgetattr(fd, &saved) < 0) return errno_error("tcgetattr on fd {}", fd);
  termios raw = saved;
  ::cfmakeraw(&raw);
  g_raw_saved = saved;
  g_raw_fd.store(fd);
  if (::tcsetattr(fd, TCSANOW, &raw) < 0) {
    g_raw_fd.store(-1);
    return errno_error("tcsetattr on fd {}", fd);
  }
  log::set_raw_terminal(true);
  return std::optional<RawTerminal>(RawTerminal(fd, saved));
}

RawTerminal& RawTerminal::operator=(RawTerminal&& other) noexcept {
  if (this != &other) {
    restore();
    m_fd = std::exchange(other.m_fd, -1);
    m_saved = other.m_saved;
  }
  return *this;
}

RawTerminal::~RawTerminal() {
  restore();
}

void RawTerminal::restore() {
  if (m_fd < 0) return;
  int expected = m_fd;
  g_raw_fd.compare_exchange_strong(expected, -1);
  ::tcsetattr(m_fd, TCSANOW, &m_saved);
  log::set_raw_terminal(false);
  m_fd = -1;
}

}  // namespace haven
