#include "base/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "base/unique_fd.h"

namespace haven {
namespace {

// Points stderr at a pipe for the duration of a test, and puts the logger's global settings
// back afterwards.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    m_read = UniqueFd(fds[0]);
    UniqueFd write_end(fds[1]);
    m_saved_stderr = UniqueFd(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0));
    ASSERT_TRUE(m_saved_stderr);
    ASSERT_EQ(::dup2(write_end.get(), STDERR_FILENO), STDERR_FILENO);
    m_saved_level = log::level();
    log::set_program_name("haven-test");
  }

  void TearDown() override {
    if (m_saved_stderr) ::dup2(m_saved_stderr.get(), STDERR_FILENO);
    log::set_level(m_saved_level);
    log::set_raw_terminal(false);
    log::set_program_name("haven");
  }

  // Everything written to stderr since the last call.
  std::string captured() {
    std::string text;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(m_read.get(), buffer, sizeof(buffer))) > 0)
      text.append(buffer, static_cast<size_t>(n));
    return text;
  }

 private:
  UniqueFd m_read;
  UniqueFd m_saved_stderr;
  log::Level m_saved_level = log::Level::info;
};

TEST_F(LogTest, LinesNameTheProgramAndTheLevel) {
  log::set_level(log::Level::debug);
  log::debug("d {}", 1);
  EXPECT_EQ(captured(), "haven-test: debug: d 1\n");
  log::info("i {}", "two");
  EXPECT_EQ(captured(), "haven-test: i two\n");
  log::warn("w {:#x}", 3);
  EXPECT_EQ(captured(), "haven-test: warning: w 0x3\n");
  log::error("e");
  EXPECT_EQ(captured(), "haven-test: error: e\n");
}

TEST_F(LogTest, TheLevelFiltersDebugAndInfo) {
  log::set_level(log::Level::info);
  EXPECT_EQ(log::level(), log::Level::info);
  log::debug("hidden");
  EXPECT_EQ(captured(), "");
  log::info("shown");
  EXPECT_EQ(captured(), "haven-test: shown\n");

  log::set_level(log::Level::error);
  log::info("hidden");
  EXPECT_EQ(captured(), "");
  // Warnings and errors are always written.
  log::warn("still");
  log::error("here");
  EXPECT_EQ(captured(), "haven-test: warning: still\nhaven-test: error: here\n");
}

TEST_F(LogTest, ARawTerminalGetsCarriageReturns) {
  log::set_raw_terminal(true);
  log::warn("raw");
  EXPECT_EQ(captured(), "haven-test: warning: raw\r\n");
  log::set_raw_terminal(false);
  log::warn("cooked");
  EXPECT_EQ(captured(), "haven-test: warning: cooked\n");
}

}  // namespace
}  // namespace haven
