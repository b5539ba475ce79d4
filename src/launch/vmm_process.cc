#include "launch/vmm_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "base/sys.h"
#include "base/unique_fd.h"
#include "store/key_handoff.h"

extern char** environ;

namespace haven::launch {
namespace {

constexpr unsigned kCloseRangeCloexec = 1u << 2;  // CLOSE_RANGE_CLOEXEC (Linux 5.11)

// The parent's environment without the passphrase or a stale key announcement, plus this
// child's key announcement.
std::vector<std::string> child_environment(bool keys) {
  std::vector<std::string> env;
  std::string keys_prefix = std::string(store::kKeyHandoffEnv) + "=";
  for (char** entry = environ; *entry; ++entry) {
    std::string_view variable(*entry);
    if (!variable.starts_with("HAVEN_PASSPHRASE=") && !variable.starts_with(keys_prefix))
      env.emplace_back(variable);
  }
  if (keys) env.push_back(keys_prefix + std::to_string(store::kKeyHandoffFd));
  return env;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Why the child gave up before or at exec, sent through the exec pipe.
struct ChildFailure {
  int step = 0;  // 1: joining a cgroup, 2: exec
  int error = 0;
};

// Descriptors the child moves into place are first copied above the ones it fills (0-3), so
// that no dup2 in the child lands on a source it still needs.
constexpr int kFirstSpareFd = 10;

Result<UniqueFd> spare_copy(int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, kFirstSpareFd);
  if (copy < 0) return errno_error("duplicate fd {}", fd);
  return UniqueFd(copy);
}

// An executable named without a slash is looked up on PATH's absolute directories (an empty
// or relative entry, which means the working directory, is skipped: a daemon's working
// directory is no place to find its VMM).
std::string resolve_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    size_t colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    if (dir.empty() || dir.front() != '/') continue;
    std::string candidate = std::string(dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return name;
}

}  // namespace

Result<pid_t> start_vmm_process(const VmmProcess& process) {
  if (process.args.empty()) return make_error("start haven-vmm: no executable given");
  // Everything the child needs is made before fork: between fork and exec it makes only
  // async-signal-safe calls.
  std::vector<std::string> args = process.args;
  args[0] = resolve_executable(args[0]);
  std::vector<std::string> env = child_environment(process.keys_fd >= 0);
  std::vector<char*> argv = pointers_to(args);
  std::vector<char*> envp = pointers_to(env);
  UniqueFd null = TRY(sys::open("/dev/null", O_RDWR | O_CLOEXEC));
  UniqueFd streams[3];
  int given[3] = {process.stdin_fd, process.stdout_fd, process.stderr_fd};
  for (int i = 0; i < 3; ++i) streams[i] = TRY(spare_copy(given[i] >= 0 ? given[i] : null.get()));
  UniqueFd keys;
  if (process.keys_fd >= 0) keys = TRY(spare_copy(process.keys_fd));
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  int max_fd = files.rlim_cur == RLIM_INFINITY || files.rlim_cur > (1u << 20)
                   ? (1 << 20)
                   : static_cast<int>(files.rlim_cur);
  sigset_t none;
  sigemptyset(&none);
  // The child reports a failure through this pipe; a successful exec closes it (CLOEXEC), so
  // the caller learns that haven-vmm really runs. (Before that the child still looks like
  // its parent in /proc.)
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error("pipe for {}", args[0]);
  UniqueFd report_read(pipe_fds[0]), report_write(pipe_fds[1]);
  report_write = TRY(spare_copy(report_write.get()));
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) return errno_error("fork for {}", args[0]);
  if (pid == 0) {
    auto fail = [&](int step) {
      ChildFailure failure{step, errno};
      (void)!::write(report_write.get(), &failure, sizeof(failure));
      ::_exit(127);
    };
    if (process.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
    }
    for (int procs : process.cgroup_procs)
      if (::write(procs, "0", 1) != 1) fail(1);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (process.new_session) ::setsid();
    // Every fd from 3 up closes at exec (one by one, up to RLIMIT_NOFILE, on kernels before
    // 5.11, which lack close_range)...
    if (::syscall(SYS_close_range, 3u, ~0u, kCloseRangeCloexec) != 0)
      for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    // ...but the streams and the keys, which dup2 puts in place without close-on-exec (the
    // sources are all above kFirstSpareFd, so none is overwritten before it is copied).
    for (int i = 0; i < 3; ++i)
      if (::dup2(streams[i].get(), i) < 0) fail(2);
    if (keys && ::dup2(keys.get(), store::kKeyHandoffFd) < 0) fail(2);
    ::execve(argv[0], argv.data(), envp.data());
    fail(2);
  }

  report_write.reset();
  ChildFailure failure;
  ssize_t got;
  do {
    got = ::read(report_read.get(), &failure, sizeof(failure));
  } while (got < 0 && errno == EINTR);
  if (got == sizeof(failure)) {
    ::waitpid(pid, nullptr, 0);
    if (failure.step == 1)
      return make_error("{} could not join its cgroups: {}", args[0], std::strerror(failure.error));
    return make_error("cannot execute {}: {}", args[0], std::strerror(failure.error));
  }
  return pid;
}

}  // namespace haven::launch
