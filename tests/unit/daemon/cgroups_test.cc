#include "daemon/cgroups.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "base/sys.h"
#include "support/host_probes.h"

namespace haven::daemon {
namespace {

std::string read(const std::string& file) {
  std::string text = sys::read_until_end(file, 4096).value_or("?");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// On the real hierarchies (root, as in CI): a child joins haven/NAME through the files
// prepare() opened, the limits are in the controllers' files, remove() cleans up.
TEST(Cgroups, AVmmJoinsItsOwnCgroupsWithItsLimits) {
  Cgroups cgroups = Cgroups::detect();
  if (!cgroups.usable()) {
    ASSERT_FALSE(testing::host_has_cgroups())
        << "this host mounts cpu and memory controllers, Cgroups::detect found "
        << cgroups.describe();
    GTEST_SKIP() << "no cgroups with cpu and memory: " << cgroups.describe();
  }
  std::string name = "unit-test-" + std::to_string(::getpid());
  auto procs = cgroups.prepare(name, {1.5, 200, 300ull << 20});
  if (!procs && procs.error().code() == EACCES && !testing::host_has_cgroups())
    GTEST_SKIP() << procs.error().message();
  ASSERT_TRUE(procs) << procs.error().message();
  pid_t child = ::fork();
  if (child == 0) {
    for (const UniqueFd& fd : *procs)
      if (::write(fd.get(), "0", 1) != 1) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  // The child has joined once /proc says so; that it is written before pause() is all we need.
  std::string membership;
  for (int i = 0; i < 5000; ++i) {
    membership = read("/proc/" + std::to_string(child) + "/cgroup");
    if (membership.find("/haven/" + name) != std::string::npos) break;
    usleep(1000);
  }
  EXPECT_NE(membership.find("/haven/" + name), std::string::npos) << membership;
  for (const std::string& dir : cgroups.directories(name)) {
    if (std::filesystem::exists(dir + "/cpu.cfs_quota_us")) {
      EXPECT_EQ(read(dir + "/cpu.cfs_quota_us"), "150000");
      EXPECT_EQ(read(dir + "/cpu.shares"), "2048");
    }
    if (std::filesystem::exists(dir + "/cpu.max")) {
      EXPECT_EQ(read(dir + "/cpu.max"), "150000 100000");
      EXPECT_EQ(read(dir + "/cpu.weight"), "200");
    }
    if (std::filesystem::exists(dir + "/memory.limit_in_bytes")) {
      EXPECT_EQ(read(dir + "/memory.limit_in_bytes"), std::to_string(300ull << 20));
    }
    if (std::filesystem::exists(dir + "/memory.max")) {
      EXPECT_EQ(read(dir + "/memory.max"), std::to_string(300ull << 20));
    }
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  cgroups.remove(name);
  for (const std::string& dir : cgroups.directories(name))
    EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

TEST(Cgroups, RemoveLeavesAGroupThatStillHasAProcess) {
  Cgroups cgroups = Cgroups::detect();
  if (!cgroups.usable()) {
    ASSERT_FALSE(testing::host_has_cgroups())
        << "this host mounts cpu and memory controllers, Cgroups::detect found "
        << cgroups.describe();
    GTEST_SKIP() << "no cgroups with cpu and memory: " << cgroups.describe();
  }
  std::string name = "unit-busy-" + std::to_string(::getpid());
  auto procs = cgroups.prepare(name, {});
  if (!procs && procs.error().code() == EACCES && !testing::host_has_cgroups())
    GTEST_SKIP() << procs.error().message();
  ASSERT_TRUE(procs) << procs.error().message();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    for (const UniqueFd& fd : *procs)
      if (::write(fd.get(), "0", 1) != 1) ::_exit(1);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);  // the child has joined
  cgroups.remove(name);  // what a daemon does at start for a guest it thinks ended
  for (const std::string& dir : cgroups.directories(name))
    EXPECT_TRUE(std::filesystem::exists(dir)) << dir << " was removed under a live process";
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  cgroups.remove(name);
  for (const std::string& dir : cgroups.directories(name))
    EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(Cgroups, NoHierarchyMeansNotUsable) {
  Cgroups none = Cgroups::detect("/nonexistent");
  EXPECT_FALSE(none.usable());
  EXPECT_EQ(none.describe(), "cpu: none, memory: none");
  EXPECT_FALSE(none.prepare("x", {}));
}

}  // namespace
}  // namespace haven::daemon
