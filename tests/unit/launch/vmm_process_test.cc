#include "launch/vmm_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "base/sys.h"
#include "base/unique_fd.h"

namespace haven::launch {
namespace {

// Runs `script` under /bin/sh as the VMM would be run, and returns what it printed.
struct Ran {
  std::string out;
  int status = -1;
};

Ran run(VmmProcess process, const std::string& script) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  process.args = {"/bin/sh", "-c", script};
  process.stdout_fd = write_end.get();
  auto pid = start_vmm_process(process);
  EXPECT_TRUE(pid) << pid.error().message();
  write_end.reset();
  Ran ran;
  if (!pid) return ran;
  char buffer[4096];
  ssize_t got;
  while ((got = ::read(read_end.get(), buffer, sizeof(buffer))) > 0)
    ran.out.append(buffer, static_cast<size_t>(got));
  ::waitpid(*pid, &ran.status, 0);
  return ran;
}

TEST(VmmProcess, TheChildGetsItsStreamsTheKeysAndNoPassphrase) {
  ::setenv("HAVEN_PASSPHRASE", "secret", 1);
  auto keys = sys::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);  // any readable file
  ASSERT_TRUE(keys);
  VmmProcess process;
  process.keys_fd = keys->get();
  Ran ran = run(process,
                "echo \"pass=${HAVEN_PASSPHRASE:-none} keys=$HAVEN_REPO_KEYS_FD\"; "
                "head -c 4 <&3 | od -An -c | tr -d ' \\n'; echo; ls /proc/self/fd");
  ::unsetenv("HAVEN_PASSPHRASE");
  EXPECT_EQ(ran.status, 0);
  EXPECT_NE(ran.out.find("pass=none keys=3\n"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("177ELF\n"), std::string::npos) << "fd 3 is the keys: " << ran.out;
  // ls itself sees 0, 1, 2, 3 and the directory it reads: nothing else leaked in.
  std::string fds = ran.out.substr(ran.out.find("ELF\n") + 4);
  EXPECT_EQ(fds, "0\n1\n2\n3\n4\n") << fds;
}

TEST(VmmProcess, WithoutKeysNothingIsAnnounced) {
  ::setenv("HAVEN_REPO_KEYS_FD", "3", 1);  // as if this process had been handed keys
  Ran ran = run({}, "echo \"keys=${HAVEN_REPO_KEYS_FD:-none}\"");
  ::unsetenv("HAVEN_REPO_KEYS_FD");
  EXPECT_EQ(ran.out, "keys=none\n");
}

TEST(VmmProcess, ANewSessionOnRequest) {
  VmmProcess process;
  process.new_session = true;
  Ran ran = run(process, "cut -d' ' -f6 /proc/$$/stat; echo $$");  // field 6: session
  ASSERT_NE(ran.out.find('\n'), std::string::npos) << ran.out;
  EXPECT_EQ(std::stoi(ran.out), std::stoi(ran.out.substr(ran.out.find('\n') + 1)))
      << "the child leads its own session: " << ran.out;
}

TEST(VmmProcess, ABareNameIsLookedUpOnPath) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  VmmProcess process;
  process.args = {"sh", "-c", "echo found"};
  process.stdout_fd = write_end.get();
  auto pid = start_vmm_process(process);
  ASSERT_TRUE(pid) << pid.error().message();
  write_end.reset();
  char buffer[16] = {};
  EXPECT_EQ(::read(read_end.get(), buffer, sizeof(buffer)), 6);
  EXPECT_STREQ(buffer, "found\n");
  ::waitpid(*pid, nullptr, 0);
  VmmProcess nowhere;
  nowhere.args = {"haven-no-such-vmm"};
  auto failed = start_vmm_process(nowhere);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(),
            "cannot execute haven-no-such-vmm: No such file or directory");
}

TEST(VmmProcess, AFailedExecOrCgroupJoinIsAnErrorNamingIt) {
  VmmProcess missing;
  missing.args = {"/nonexistent/haven-vmm", "--config", "x"};
  auto failed = start_vmm_process(missing);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(),
            "cannot execute /nonexistent/haven-vmm: No such file or directory");

  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  VmmProcess jailed;
  jailed.args = {"/bin/true"};
  jailed.cgroup_procs = {read_end.get()};  // cannot be written: the join fails
  failed = start_vmm_process(jailed);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message().find("could not join its cgroups"), std::string::npos)
      << failed.error().message();
  EXPECT_FALSE(start_vmm_process({}));
}

}  // namespace
}  // namespace haven::launch
