// haven-boot-timer: runs a command (a VMM booting a guest) several times and reports, per run,
// when a marker first appeared on its output, when it exited, and its peak RSS. The boot
// benchmarks run Haven and QEMU through it side by side (bench/README.md).
//
//   haven-boot-timer [--marker TEXT] [--runs N] [--label NAME] -- COMMAND [ARGS...]
//
// Prints one JSON object: {"label", "runs", "marker_ms": [...], "exit_ms": [...],
// "max_rss_kib": [...], "median_marker_ms", "median_exit_ms", "median_rss_kib"}.

#include <fcntl.h>
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
  double marker_ms = -1;  // -1: the marker never appeared
  double exit_ms = 0;
  long max_rss_kib = 0;
  int status = 0;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool run_once(const std::vector<std::string>& command, const std::string& marker,
              RunResult& result) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
  haven::UniqueFd read_end(pipe_fds[0]);
  haven::UniqueFd write_end(pipe_fds[1]);
  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  const auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(write_end.get(), 1);
    ::dup2(write_end.get(), 2);
    ::execvp(argv[0], argv.data());
    std::perror(argv[0]);
    ::_exit(127);
  }
  write_end.reset();
  std::string tail;  // enough of the output to find a marker split across reads
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (result.marker_ms >= 0 || marker.empty()) continue;
    tail.append(buffer, static_cast<size_t>(n));
    if (tail.find(marker) != std::string::npos) {
      result.marker_ms = ms_since(start);
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
  std::string marker;
  std::string label;
  int runs = 5;
  std::vector<std::string> command;
  app.add_option("--marker", marker, "Text whose first appearance on stdout/stderr is timed");
  app.add_option("--runs", runs, "How many times to run the command")->check(CLI::Range(1, 1000));
  app.add_option("--label", label, "Name for this command in the output");
  app.add_option("command", command, "The command (after --)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  nlohmann::json out;
  out["label"] = label.empty() ? command.front() : label;
  out["runs"] = runs;
  std::vector<double> marker_ms, exit_ms;
  std::vector<long> rss;
  std::vector<int> statuses;
  for (int i = 0; i < runs; ++i) {
    RunResult result;
    if (!run_once(command, marker, result)) {
      std::perror("haven-boot-timer");
      return 1;
    }
    if (!marker.empty() && result.marker_ms < 0) {
      std::fprintf(stderr, "haven-boot-timer: '%s' never printed '%s' (exit status %d)\n",
                   command.front().c_str(), marker.c_str(), result.status);
      return 1;
    }
    marker_ms.push_back(result.marker_ms);
    exit_ms.push_back(result.exit_ms);
    rss.push_back(result.max_rss_kib);
    statuses.push_back(result.status);
  }
  out["marker_ms"] = marker_ms;
  out["exit_ms"] = exit_ms;
  out["max_rss_kib"] = rss;
  out["exit_status"] = statuses;
  out["median_marker_ms"] = median(marker_ms);
  out["median_exit_ms"] = median(exit_ms);
  out["median_rss_kib"] = median(rss);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
