#include "cli/passphrase.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>

#include "base/sys.h"

namespace haven::cli {
namespace {

Result<std::string> prompt(int tty, const char* text) {
  (void)::write(tty, text, std::strlen(text));
  termios saved{};
  bool restore = ::tcgetattr(tty, &saved) == 0;
  if (restore) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  std::string line;
  char c;
  ssize_t got;
  while ((got = ::read(tty, &c, 1)) == 1 && c != '\n') line.push_back(c);
  if (restore) ::tcsetattr(tty, TCSAFLUSH, &saved);
  (void)::write(tty, "\n", 1);
  if (got < 0) return errno_error("read the passphrase");
  return line;
}

}  // namespace

Result<std::string> read_passphrase(bool confirm) {
  if (const char* from_env = std::getenv("HAVEN_PASSPHRASE")) {
    if (!*from_env) return make_error("HAVEN_PASSPHRASE is empty");
    return std::string(from_env);
  }
  auto tty = sys::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (!tty) return make_error("no passphrase: set HAVEN_PASSPHRASE or run on a terminal");
  std::string first = TRY(prompt(tty->get(), "Repository passphrase: "));
  if (first.empty()) return make_error("an empty passphrase");
  if (confirm) {
    std::string second = TRY(prompt(tty->get(), "Again: "));
    if (second != first) return make_error("the passphrases differ");
  }
  return first;
}

}  // namespace haven::cli
