#include "base/terminal.h"

#include <unistd.h>

#include <utility>

#include "base/log.h"

namespace haven {

Result<std::optional<RawTerminal>> RawTerminal::enable(int fd) {
  if (!::isatty(fd)) return std::optional<RawTerminal>();
  termios saved{};
  if (::tcgetattr(fd, &saved) < 0) return errno_error("tcgetattr on fd {}", fd);
  termios raw = saved;
  ::cfmakeraw(&raw);
  if (::tcsetattr(fd, TCSANOW, &raw) < 0) return errno_error("tcsetattr on fd {}", fd);
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
  ::tcsetattr(m_fd, TCSANOW, &m_saved);
  log::set_raw_terminal(false);
  m_fd = -1;
}

}  // namespace haven
