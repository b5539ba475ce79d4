#include "launch/vmm_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

}  // namespace

Result<pid_t> start_vmm_process(const VmmProcess& process) {
  if (process.args.empty()) return make_error("start haven-vmm: no executable given");
  // Everything the child needs is made before fork: between fork and exec it makes only
  // async-signal-safe calls.
  std::vector<std::string> args = process.args;
  std::vector<std::string> env = child_environment(process.keys_fd >= 0);
  std::vector<char*> argv = pointers_to(args);
  std::vector<char*> envp = pointers_to(env);
  UniqueFd null = TRY(sys::open("/dev/null", O_RDWR | O_CLOEXEC));
  int streams[3] = {process.stdin_fd, process.stdout_fd, process.stderr_fd};
  for (int& fd : streams)
    if (fd < 0) fd = null.get();
  sigset_t none;
  sigemptyset(&none);
  // The child reports a failure through this pipe; a successful exec closes it (CLOEXEC), so
  // the caller learns that haven-vmm really runs. (Before that the child still looks like
  // its parent in /proc.)
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error("pipe for {}", args[0]);
  UniqueFd report_read(pipe_fds[0]), report_write(pipe_fds[1]);
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
    // dup2 onto fds 0-2 clears close-on-exec there; the rest all close at exec...
    for (int i = 0; i < 3; ++i)
      if (::dup2(streams[i], i) < 0) fail(2);
    ::syscall(SYS_close_range, 3u, ~0u, kCloseRangeCloexec);
    if (process.keys_fd >= 0) {  // ...but the keys, as fd 3
      if (process.keys_fd != store::kKeyHandoffFd) {
        if (::dup2(process.keys_fd, store::kKeyHandoffFd) < 0) fail(2);
      } else {
        ::fcntl(store::kKeyHandoffFd, F_SETFD, 0);
      }
    }
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
