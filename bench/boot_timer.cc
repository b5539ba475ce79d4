// haven-boot-timer: runs a command (a VMM booting a guest) several times and reports, per run,
// when its first output byte came, when a marker first appeared on its output, when it exited,
// and its peak RSS. The boot benchmarks run Haven and QEMU through it side by side
// (bench/README.md).
//
//   haven-boot-timer [--marker TEXT] [--kill-at-marker] [--runs N] [--label NAME]
//                    [--timeout SECONDS] [--expect-status N[,N...]] [--stderr FILE] [--log FILE]
//                    [--timestamps FILE] -- COMMAND [ARGS...]
//
// The timed output is the command's stdout and stderr together, or its stdout alone with
// --stderr FILE (then the first byte is the guest's console's, not a VMM's warning). A run
// that has not exited after --timeout seconds is killed and fails the timer, as does one
// whose output never showed the marker, or that exited with another status than
// --expect-status (0 unless given; a comma-separated list): a run that failed is not a fast
// run.
// --kill-at-marker kills the command (SIGKILL) as soon
// as the marker appears, for guests that do not power off by themselves: its exit time is
// then when it was reaped, and its peak RSS what it reached until then. --timestamps FILE
// keeps the last run's output line by line, each line prefixed with the time (ms, from the
// start) its text began (its first printable character outside escape sequences) and a tab:
// where a boot spent its time.
//
// Prints one JSON object: {"label", "runs", "first_output_ms": [...], "marker_ms": [...],
// "exit_ms": [...], "max_rss_kib": [...], "exit_status": [...], "killed_at_marker",
// "median_first_output_ms", "median_marker_ms", "median_exit_ms", "median_rss_kib"}. A
// first_output_ms of -1: no output.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace {

using Clock = std::chrono::steady_clock;

struct RunResult {
  double first_output_ms = -1;  // -1: the command printed nothing
  double marker_ms = -1;        // -1: the marker never appeared
  bool timed_out = false;
  bool killed_at_marker = false;
  double exit_ms = 0;
  long max_rss_kib = 0;
  int status = 0;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Options {
  std::string marker;
  double timeout_s = 0;         // 0: none
  std::string stderr_path;      // empty: stderr joins the timed output
  std::string log_path;         // empty: the output is not kept
  std::string timestamps_path;  // empty: no per-line times
  bool kill_at_marker = false;
};

// Writes the output line by line, each prefixed with the time its text began: when its first
// printable character that is not part of an escape sequence arrived (a console sends cursor
// moves and colours well before the text they precede), or its first byte's for a line without
// one.
class LineTimes {
 public:
  explicit LineTimes(FILE* file) : m_file(file) {}
  ~LineTimes() {
    if (m_file == nullptr) return;
    if (m_started) flush();
    std::fclose(m_file);
  }
  LineTimes(const LineTimes&) = delete;
  LineTimes& operator=(const LineTimes&) = delete;

  void add(const char* data, size_t size, double now_ms) {
    if (m_file == nullptr) return;
    for (size_t i = 0; i < size; ++i) {
      const char c = data[i];
      if (!m_started) {
        m_line_ms = now_ms;
        m_text_ms = -1;
        m_started = true;
      }
      if (c == '\n') {
        flush();
        continue;
      }
      if (c == '\r') continue;
      m_line.push_back(c);
      switch (m_escape) {
        case Escape::kNone:
          if (c == '\033') {
            m_escape = Escape::kEscape;
          } else if (m_text_ms < 0 && c > ' ' && c < 0x7f) {
            m_text_ms = now_ms;
          }
          break;
        case Escape::kEscape:  // ESC [ ... a CSI sequence; ESC ( X a charset; else ESC X
          m_escape = c == '['                 ? Escape::kCsi
                     : (c == '(' || c == ')') ? Escape::kCharset
                                              : Escape::kNone;
          break;
        case Escape::kCsi:
          if (c >= 0x40 && c <= 0x7e) m_escape = Escape::kNone;
          break;
        case Escape::kCharset:
          m_escape = Escape::kNone;
          break;
      }
    }
  }

 private:
  enum class Escape { kNone, kEscape, kCsi, kCharset };

  void flush() {
    std::fprintf(m_file, "%.0f\t%s\n", m_text_ms >= 0 ? m_text_ms : m_line_ms, m_line.c_str());
    m_line.clear();
    m_started = false;
  }

  FILE* m_file;
  std::string m_line;
  double m_line_ms = 0;
  double m_text_ms = -1;
  bool m_started = false;
  Escape m_escape = Escape::kNone;
};

bool run_once(const std::vector<std::string>& command, const Options& options, RunResult& result) {
  const std::string& marker = options.marker;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
  haven::UniqueFd read_end(pipe_fds[0]);
  haven::UniqueFd write_end(pipe_fds[1]);
  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  haven::UniqueFd log_fd;
  if (!options.log_path.empty()) {
    log_fd = haven::UniqueFd(
        ::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!log_fd.valid()) return false;
  }

  FILE* times_file = nullptr;
  if (!options.timestamps_path.empty()) {
    times_file = std::fopen(options.timestamps_path.c_str(), "we");
    if (times_file == nullptr) return false;
  }
  LineTimes line_times(times_file);

  const auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::setpgid(0, 0);  // its own process group: a kill reaches whatever it started too
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(write_end.get(), 1);
    if (options.stderr_path.empty()) {
      ::dup2(write_end.get(), 2);
    } else {
      int err_fd = ::open(options.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err_fd >= 0) ::dup2(err_fd, 2);
    }
    ::execvp(argv[0], argv.data());
    std::perror(argv[0]);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // as the child does: whichever runs first
  write_end.reset();
  std::string tail;  // enough of the output to find a marker split across reads
  char buffer[4096];
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(options.timeout_s > 0 ? options.timeout_s : 0));
  for (;;) {
    if (options.timeout_s > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd pfd{.fd = read_end.get(), .events = POLLIN, .revents = 0};
      int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count()) + 1) : 0;
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        result.timed_out = true;
        ::kill(-pid, SIGKILL);
        break;
      }
    }
    ssize_t n = ::read(read_end.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const double now_ms = ms_since(start);
    if (result.first_output_ms < 0) result.first_output_ms = now_ms;
    if (log_fd.valid() && ::write(log_fd.get(), buffer, static_cast<size_t>(n)) < 0) log_fd.reset();
    line_times.add(buffer, static_cast<size_t>(n), now_ms);
    if (result.marker_ms >= 0 || marker.empty()) continue;
    tail.append(buffer, static_cast<size_t>(n));
    if (tail.find(marker) != std::string::npos) {
      result.marker_ms = now_ms;
      if (options.kill_at_marker) {
        ::kill(-pid, SIGKILL);  // read on to the end of its output: it ends with the process
        result.killed_at_marker = true;
      }
    } else if (tail.size() > marker.size()) {
      tail.erase(0, tail.size() - marker.size());
    }
  }
  int status = 0;
  rusage usage{};
  if (::wait4(pid, &status, 0, &usage) != pid) return false;
  result.exit_ms = ms_since(start);
  result.max_rss_kib = usage.ru_maxrss;
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

template <class T>
T median(std::vector<T> values) {
  if (values.empty()) return T{};
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time a command to a marker in its output and to its exit; report its peak RSS."};
  Options options;
  std::string label;
  int runs = 5;
  std::vector<std::string> command;
  std::string expected_text = "0";
  app.add_option("--marker", options.marker,
                 "Text whose first appearance on the timed output is timed");
  app.add_option("--runs", runs, "How many times to run the command")->check(CLI::Range(1, 1000));
  app.add_option("--label", label, "Name for this command in the output");
  app.add_option("--timeout", options.timeout_s,
                 "Kill a run that has not exited after this many seconds and fail (0: never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stderr", options.stderr_path,
                 "Append the command's stderr to this file instead of timing it with stdout");
  app.add_option("--log", options.log_path, "Keep the last run's timed output in this file");
  // One text option, not a vector of ints: CLI11 2.1 lets a vector option before "--" take
  // the command's own arguments as unexpected.
  app.add_option("--expect-status", expected_text,
                 "The exit statuses a run may end with, comma-separated (default 0); any other "
                 "fails the timer (a run killed at the marker has none)");
  app.add_flag("--kill-at-marker", options.kill_at_marker,
               "Kill the command (SIGKILL) when the marker appears instead of waiting for it");
  app.add_option("--timestamps", options.timestamps_path,
                 "Keep the last run's output in this file, each line prefixed with the time "
                 "(ms) it began and a tab");
  app.add_option("command", command, "The command (after --)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  std::vector<int> expected_statuses;
  for (size_t at = 0; at <= expected_text.size();) {
    size_t end = std::min(expected_text.find(',', at), expected_text.size());
    try {
      size_t used = 0;
      std::string part = expected_text.substr(at, end - at);
      expected_statuses.push_back(std::stoi(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      std::fprintf(stderr, "haven-boot-timer: --expect-status: '%s' is not a list of numbers\n",
                   expected_text.c_str());
      return 2;
    }
    at = end + 1;
  }
  nlohmann::json out;
  out["label"] = label.empty() ? command.front() : label;
  out["runs"] = runs;
  std::vector<double> first_output_ms, marker_ms, exit_ms;
  std::vector<long> rss;
  std::vector<int> statuses;
  bool killed = false;
  for (int i = 0; i < runs; ++i) {
    RunResult result;
    if (!run_once(command, options, result)) {
      std::perror("haven-boot-timer");
      return 1;
    }
    if (!options.marker.empty() && result.marker_ms < 0) {
      std::fprintf(stderr, "haven-boot-timer: '%s' never printed '%s' (%s %d)\n",
                   command.front().c_str(), options.marker.c_str(),
                   result.timed_out ? "killed after the timeout, status" : "exit status",
                   result.status);
      return 1;
    }
    if (result.timed_out) {
      std::fprintf(stderr, "haven-boot-timer: '%s' did not exit within %g s (killed)\n",
                   command.front().c_str(), options.timeout_s);
      return 1;
    }
    if (!result.killed_at_marker && std::find(expected_statuses.begin(), expected_statuses.end(),
                                              result.status) == expected_statuses.end()) {
      std::string expected;
      for (int status : expected_statuses)
        expected += (expected.empty() ? "" : " or ") + std::to_string(status);
      std::fprintf(stderr, "haven-boot-timer: '%s' run %d exited with status %d (expected %s)\n",
                   command.front().c_str(), i + 1, result.status, expected.c_str());
      return 1;
    }
    first_output_ms.push_back(result.first_output_ms);
    marker_ms.push_back(result.marker_ms);
    exit_ms.push_back(result.exit_ms);
    rss.push_back(result.max_rss_kib);
    statuses.push_back(result.status);
    killed = killed || result.killed_at_marker;
  }
  out["first_output_ms"] = first_output_ms;
  out["marker_ms"] = marker_ms;
  out["exit_ms"] = exit_ms;
  out["max_rss_kib"] = rss;
  out["exit_status"] = statuses;
  out["killed_at_marker"] = killed;
  out["median_first_output_ms"] = median(first_output_ms);
  out["median_marker_ms"] = median(marker_ms);
  out["median_exit_ms"] = median(exit_ms);
  out["median_rss_kib"] = median(rss);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
