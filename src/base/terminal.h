#pragma once

#include <termios.h>

#include <optional>

#include "base/error.h"

namespace haven {

// Puts a terminal into raw mode (every key goes to the guest, Ctrl-C included) and restores
// the saved settings when destroyed.
class RawTerminal {
 public:
  // Nothing to do (std::nullopt) when `fd` is not a terminal.
  static Result<std::optional<RawTerminal>> enable(int fd);

  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  RawTerminal(RawTerminal&& other) noexcept : m_fd(other.m_fd), m_saved(other.m_saved) {
    other.m_fd = -1;
  }
  RawTerminal& operator=(RawTerminal&& other) noexcept;
  ~RawTerminal();

 private:
  void restore();
  RawTerminal(int fd, const termios& saved) : m_fd(fd), m_saved(saved) {}

  int m_fd;
  termios m_saved;
};

// Restores the terminal a RawTerminal holds, if any, from a signal handler about to end the
// process (a crash, a forbidden system call): async-signal-safe.
void restore_terminal_before_dying();

}  // namespace haven
