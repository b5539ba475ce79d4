#include "base/terminal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "base/unique_fd.h"

namespace haven {
namespace {

// A pseudo-terminal pair: `terminal` is the end a program sees as its tty.
struct Pty {
  UniqueFd controller;
  UniqueFd terminal;
};

std::optional<Pty> open_pty() {
  UniqueFd controller(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!controller || ::grantpt(controller.get()) != 0 || ::unlockpt(controller.get()) != 0)
    return std::nullopt;
  const char* name = ::ptsname(controller.get());
  if (!name) return std::nullopt;
  UniqueFd terminal(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!terminal) return std::nullopt;
  return Pty{std::move(controller), std::move(terminal)};
}

bool is_canonical(int fd) {
  termios settings{};
  EXPECT_EQ(::tcgetattr(fd, &settings), 0);
  return settings.c_lflag & ICANON;
}

bool echoes(int fd) {
  termios settings{};
  EXPECT_EQ(::tcgetattr(fd, &settings), 0);
  return settings.c_lflag & ECHO;
}

TEST(RawTerminal, NotATerminalIsNothingToDo) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  auto raw = RawTerminal::enable(read_end.get());
  ASSERT_TRUE(raw) << raw.error().message();
  EXPECT_FALSE(raw->has_value());
}

TEST(RawTerminal, RawWhileAliveRestoredAfterwards) {
  auto pty = open_pty();
  if (!pty) GTEST_SKIP() << "no pseudo-terminals here";
  int fd = pty->terminal.get();
  ASSERT_TRUE(is_canonical(fd));
  ASSERT_TRUE(echoes(fd));
  {
    auto raw = RawTerminal::enable(fd);
    ASSERT_TRUE(raw) << raw.error().message();
    ASSERT_TRUE(raw->has_value());
    EXPECT_FALSE(is_canonical(fd));
    EXPECT_FALSE(echoes(fd));
  }
  EXPECT_TRUE(is_canonical(fd));
  EXPECT_TRUE(echoes(fd));
}

TEST(RawTerminal, OnlyTheLastOwnerRestores) {
  auto pty = open_pty();
  if (!pty) GTEST_SKIP() << "no pseudo-terminals here";
  int fd = pty->terminal.get();
  auto raw = RawTerminal::enable(fd);
  ASSERT_TRUE(raw && raw->has_value());
  {
    RawTerminal moved(std::move(**raw));
    raw->reset();  // destroying the moved-from guard must not restore
    EXPECT_FALSE(is_canonical(fd));
  }
  EXPECT_TRUE(is_canonical(fd));
}

TEST(RawTerminal, MoveAssignmentRestoresWhatTheTargetHeld) {
  auto first = open_pty();
  auto second = open_pty();
  if (!first || !second) GTEST_SKIP() << "no pseudo-terminals here";
  auto raw_first = RawTerminal::enable(first->terminal.get());
  auto raw_second = RawTerminal::enable(second->terminal.get());
  ASSERT_TRUE(raw_first && raw_first->has_value());
  ASSERT_TRUE(raw_second && raw_second->has_value());
  **raw_first = std::move(**raw_second);
  EXPECT_TRUE(is_canonical(first->terminal.get())) << "the overwritten guard restored its tty";
  EXPECT_FALSE(is_canonical(second->terminal.get()));
  raw_second->reset();
  EXPECT_FALSE(is_canonical(second->terminal.get()));
  raw_first->reset();
  EXPECT_TRUE(is_canonical(second->terminal.get()));
}

}  // namespace
}  // namespace haven
