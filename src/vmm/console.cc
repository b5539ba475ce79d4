#include "vmm/console.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "base/log.h"
#include "base/mutex.h"
#include "base/sys.h"
#include "base/terminal.h"
#include "base/unix_socket.h"
#include "vmm/console_log.h"

namespace haven::vmm {
namespace {

constexpr size_t kReadChunk = 4096;

void deliver_all(const Console::Input& input, std::span<const uint8_t> bytes) {
  if (!bytes.empty()) input.deliver(bytes);
}

// The terminal (or pipes) haven-vmm was started on.
class StdioConsole final : public Console {
 public:
  static Result<std::unique_ptr<Console>> open() {
    auto console = std::make_unique<StdioConsole>();
    console->m_raw = TRY(with_context(RawTerminal::enable(STDIN_FILENO), "console on stdin"));
    return console;
  }

  void write(std::span<const uint8_t> bytes) override {
    if (m_output_failed) return;
    if (auto result = sys::write_all(STDOUT_FILENO, bytes); !result) {
      log::warn("console output stopped: {}", result.error().message());
      m_output_failed = true;
    }
  }

  Result<void> attach_input(EventLoop& loop, Input input) override {
    bool interactive = m_raw.has_value();
    auto added = loop.add(STDIN_FILENO, [this, &loop, input, interactive] {
      uint8_t buffer[kReadChunk];
      auto n = sys::read_some(STDIN_FILENO, buffer);
      if (!n || *n == 0) {  // end of input: the guest keeps running without it
        loop.remove(STDIN_FILENO);
        return;
      }
      std::span<const uint8_t> bytes(buffer, *n);
      if (!interactive) return deliver_all(input, bytes);
      bool quit = false;
      auto forwarded = m_escape.filter(bytes, quit);
      deliver_all(input, forwarded);
      if (quit) input.quit();
    });
    // stdin on /dev/null or a regular file cannot be polled: no input, which is fine.
    if (!added && added.error().code() == EPERM) return {};
    return added;
  }

 private:
  std::optional<RawTerminal> m_raw;
  EscapeFilter m_escape;
  bool m_output_failed = false;  // guarded by the UART's lock, like write()
};

class FileConsole final : public Console {
 public:
  explicit FileConsole(UniqueFd fd) : m_fd(std::move(fd)) {}

  void write(std::span<const uint8_t> bytes) override {
    if (m_output_failed) return;
    if (auto result = sys::write_all(m_fd.get(), bytes); !result) {
      log::warn("console file output stopped: {}", result.error().message());
      m_output_failed = true;
    }
  }
  Result<void> attach_input(EventLoop&, Input) override { return {}; }

 private:
  UniqueFd m_fd;
  bool m_output_failed = false;
};

class NullConsole final : public Console {
 public:
  void write(std::span<const uint8_t>) override {}
  Result<void> attach_input(EventLoop&, Input) override { return {}; }
};

// A Unix socket Haven listens on; one client at a time (a new one replaces the old) gets the
// last 64 KiB of output on connecting, then the live stream, and may type.
class SocketConsole final : public Console {
 public:
  static constexpr size_t kHistory = 64 * 1024;

  static Result<std::unique_ptr<Console>> open(const std::string& path) {
    auto fd = TRY(with_context(listen_unix(path, 1), "console socket"));
    return std::unique_ptr<Console>(std::make_unique<SocketConsole>(std::move(fd), path));
  }

  SocketConsole(UniqueFd listener, std::string path)
      : m_listener(std::move(listener)), m_path(std::move(path)) {}
  ~SocketConsole() override { ::unlink(m_path.c_str()); }

  void write(std::span<const uint8_t> bytes) override {
    MutexLock lock(m_mutex);
    m_history.insert(m_history.end(), bytes.begin(), bytes.end());
    if (m_history.size() > kHistory)
      m_history.erase(m_history.begin(),
                      m_history.begin() + static_cast<ptrdiff_t>(m_history.size() - kHistory));
    send_locked(bytes);
  }

  Result<void> attach_input(EventLoop& loop, Input input) override {
    return loop.add(m_listener.get(), [this, &loop, input] { accept_client(loop, input); });
  }

 private:
  void accept_client(EventLoop& loop, const Input& input) {
    UniqueFd client(::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client) return;
    int fd = client.get();
    {
      MutexLock lock(m_mutex);
      if (m_client) loop.remove(m_client.get());
      m_client = std::move(client);
      std::vector<uint8_t> history(m_history.begin(), m_history.end());
      send_locked(history);
    }
    auto added = loop.add(fd, [this, &loop, input, fd] {
      uint8_t buffer[kReadChunk];
      auto n = sys::read_some(fd, buffer);
      if (n && *n > 0) return deliver_all(input, std::span<const uint8_t>(buffer, *n));
      if (!n && n.error().code() == EAGAIN) return;
      MutexLock lock(m_mutex);
      loop.remove(fd);
      if (m_client.get() == fd) m_client.reset();
    });
    if (!added) log::warn("console socket client: {}", added.error().message());
  }

  void send_locked(std::span<const uint8_t> bytes) HAVEN_REQUIRES(m_mutex) {
    if (!m_client) return;
    while (!bytes.empty()) {
      ssize_t n = ::send(m_client.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a slow or gone reader loses output rather than stall the guest
      bytes = bytes.subspan(static_cast<size_t>(n));
    }
  }

  UniqueFd m_listener;
  std::string m_path;
  Mutex m_mutex;
  UniqueFd m_client HAVEN_GUARDED_BY(m_mutex);
  std::deque<uint8_t> m_history HAVEN_GUARDED_BY(m_mutex);
};

// Output to a log file as well as to the console it wraps; input is the wrapped console's.
class LoggedConsole final : public Console {
 public:
  LoggedConsole(std::unique_ptr<Console> inner, UniqueFd log, std::string path, uint64_t limit)
      : m_inner(std::move(inner)), m_log(std::move(log)), m_path(std::move(path)), m_limit(limit) {}

  void write(std::span<const uint8_t> bytes) override {
    if (m_log && m_written + bytes.size() > m_limit && m_written > 0) rotate();
    if (m_log) {
      m_log->write(bytes);
      m_written += bytes.size();
    }
    m_inner->write(bytes);
  }
  Result<void> attach_input(EventLoop& loop, Input input) override {
    return m_inner->attach_input(loop, std::move(input));
  }

 private:
  // The log so far becomes LOG.1 and a new one begins (console_log.h); when that fails the log
  // stops rather than outgrow its limit.
  void rotate() {
    auto rotated = [&]() -> Result<UniqueFd> {
      TRY(sys::rename(m_path, previous_console_log(m_path)));
      return sys::open(m_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    }();
    if (!rotated) {
      log::warn("console log stopped at {} bytes: {}", m_written, rotated.error().message());
      m_log.reset();
      return;
    }
    m_log.emplace(std::move(*rotated));
    m_written = 0;
  }

  std::unique_ptr<Console> m_inner;
  std::optional<FileConsole> m_log;
  std::string m_path;
  uint64_t m_limit;
  uint64_t m_written = 0;
};

}  // namespace

std::vector<uint8_t> EscapeFilter::filter(std::span<const uint8_t> bytes, bool& quit) {
  std::vector<uint8_t> out;
  out.reserve(bytes.size());
  for (uint8_t byte : bytes) {
    if (m_pending_escape) {
      m_pending_escape = false;
      if (byte == 'x' || byte == 'X') {
        quit = true;
        return out;
      }
      if (byte == kEscape) {
        out.push_back(kEscape);
        continue;
      }
      out.push_back(kEscape);  // not an escape sequence: pass both through
      out.push_back(byte);
      continue;
    }
    if (byte == kEscape)
      m_pending_escape = true;
    else
      out.push_back(byte);
  }
  return out;
}

Result<std::unique_ptr<Console>> Console::open(const ConsoleConfig& config) {
  switch (config.kind) {
    case ConsoleConfig::Kind::stdio:
      return StdioConsole::open();
    case ConsoleConfig::Kind::none:
      return std::unique_ptr<Console>(std::make_unique<NullConsole>());
    case ConsoleConfig::Kind::file: {
      // Appended to: whatever the file held (an earlier run's output, or a file named by
      // mistake) is kept.
      UniqueFd fd = TRY(with_context(sys::open(config.path, O_WRONLY | O_CREAT | O_APPEND, 0644),
                                     "console file"));
      return std::unique_ptr<Console>(std::make_unique<FileConsole>(std::move(fd)));
    }
    case ConsoleConfig::Kind::socket:
      return SocketConsole::open(config.path);
  }
  return make_error("unknown console kind");
}

Result<std::unique_ptr<Console>> Console::open(const ConsoleConfig& config,
                                               const std::optional<std::string>& log_path) {
  return open(config, log_path, kConsoleLogLimit);
}

Result<std::unique_ptr<Console>> Console::open(const ConsoleConfig& config,
                                               const std::optional<std::string>& log_path,
                                               uint64_t log_limit) {
  auto console = TRY(open(config));
  if (!log_path) return console;
  UniqueFd log = TRY(with_context(
      sys::open(*log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640), "console log"));
  // A new run's log: an earlier run's first part goes.
  TRY(with_context(sys::remove_file(previous_console_log(*log_path), true), "console log"));
  return std::unique_ptr<Console>(std::make_unique<LoggedConsole>(
      std::move(console), std::move(log), *log_path, std::max<uint64_t>(log_limit, 1)));
}

}  // namespace haven::vmm
