#include "daemon/supervisor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/file_lock.h"
#include "base/sys.h"
#include "support/fake_vmm.h"

namespace haven::daemon {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-supervisor-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
    testing::write_fake_vmm(m_dir + "/fake-vmm");
  }
  void TearDown() override {
    m_supervisor.reset();
    for (pid_t pid : m_pids) ::kill(-pid, SIGKILL);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::filesystem::remove_all(m_dir);
  }
  // Without cgroups: the fake VMM's `sleep` would keep them busy (cgroups_test.cc tests them).
  void open(double overcommit = 1.5, milliseconds term_grace = seconds(10)) {
    auto opened = Supervisor::open(
        {m_dir + "/state", m_dir + "/fake-vmm", overcommit, false, term_grace},
        [this](const std::string&, const VmStatus& status) { m_changes.push_back(status.state); });
    ASSERT_TRUE(opened) << opened.error().message();
    m_supervisor = std::move(*opened);
  }
  static VmDefinition vm(const std::string& name, const std::string& kernel = "/k/guest") {
    VmDefinition definition;
    definition.name = name;
    definition.config.kernel = kernel;
    return definition;
  }
  pid_t start(const VmDefinition& definition) {
    auto started = m_supervisor->start(definition);
    EXPECT_TRUE(started) << started.error().message();
    VmStatus status = m_supervisor->status(definition.name);
    EXPECT_EQ(status.state, VmState::running);
    EXPECT_TRUE(status.pid);
    if (status.pid) m_pids.push_back(*status.pid);
    return status.pid.value_or(0);
  }
  // Waits (up to 20 s) for the fake VMM to have set up its signal handling, as haven-vmm does
  // before it runs the guest.
  void wait_ready(const std::string& name) {
    std::string log = m_dir + "/state/logs/" + name + ".vmm.log";
    auto ready = [&] {
      return sys::read_until_end(log, 1 << 16).value_or("").find("ready") != std::string::npos;
    };
    for (int i = 0; i < 20000 && !ready(); ++i) std::this_thread::sleep_for(milliseconds(1));
    ASSERT_TRUE(ready()) << name << " never got ready";
  }

  std::string m_dir;
  std::unique_ptr<Supervisor> m_supervisor;
  std::vector<VmState> m_changes;
  std::vector<pid_t> m_pids;
};

TEST_F(SupervisorTest, AStopAskedForIsAStopAndIsRecorded) {
  open();
  start(vm("a"));
  wait_ready("a");
  auto twice = m_supervisor->start(vm("a"));
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message().find("is running"), std::string::npos);
  ASSERT_TRUE(m_supervisor->stop("a", seconds(20)));
  VmStatus status = m_supervisor->status("a");
  EXPECT_EQ(status.state, VmState::stopped);
  EXPECT_EQ(status.reason, "stopped on request");
  EXPECT_EQ(status.exit_status, 143);
  EXPECT_FALSE(status.pid);
  EXPECT_EQ(m_changes,
            (std::vector<VmState>{VmState::running, VmState::stopping, VmState::stopped}));
  auto recorded = sys::read_until_end(m_dir + "/state/status/a.json", 1 << 16);
  ASSERT_TRUE(recorded);
  EXPECT_EQ(vm_status_from_json(*recorded)->reason, "stopped on request");
  EXPECT_FALSE(m_supervisor->stop("a", seconds(1))) << "nothing left to stop";
}

TEST_F(SupervisorTest, ACrashCarriesTheVmmsLastMessage) {
  open();
  start(vm("c", "/k/crash"));
  ASSERT_TRUE(m_supervisor->wait_until_down("c", seconds(20)));
  VmStatus status = m_supervisor->status("c");
  EXPECT_EQ(status.state, VmState::crashed);
  EXPECT_EQ(status.reason, "the guest crashed: triple fault on vCPU 0 (rip=0x10)");
  EXPECT_EQ(status.exit_status, 3);
}

TEST_F(SupervisorTest, AKillNobodyAskedForIsACrash) {
  open();
  pid_t pid = start(vm("k"));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(m_supervisor->wait_until_down("k", seconds(20)));
  VmStatus status = m_supervisor->status("k");
  EXPECT_EQ(status.state, VmState::crashed);
  EXPECT_EQ(status.exit_signal, SIGKILL);
}

TEST_F(SupervisorTest, AVmmDeafToSigtermIsKilledAfterTheGrace) {
  open(1.5, milliseconds(300));
  start(vm("d", "/k/deaf"));
  wait_ready("d");
  ASSERT_TRUE(m_supervisor->stop("d", seconds(0)));
  VmStatus status = m_supervisor->status("d");
  EXPECT_EQ(status.state, VmState::stopped);
  EXPECT_EQ(status.reason, "killed on request");
}

// A stop without a wait for the guest still gives its VMM the grace after SIGTERM: it is not
// killed along with it (the VMM here takes its time over the SIGTERM, as one flushing a disk).
TEST_F(SupervisorTest, AStopWithoutWaitingStillLetsTheVmmEndOnSigterm) {
  open();
  start(vm("s", "/k/slow"));
  wait_ready("s");
  ASSERT_TRUE(m_supervisor->stop("s", seconds(0)));
  VmStatus status = m_supervisor->status("s");
  EXPECT_EQ(status.state, VmState::stopped);
  EXPECT_EQ(status.reason, "stopped on request");
  EXPECT_EQ(status.exit_status, 143);
}

// A disk another process writes is refused before any VMM starts, naming the holder.
TEST_F(SupervisorTest, ADiskInUseElsewhereIsAConflictNamingItsHolder) {
  open();
  std::string disk = m_dir + "/disk.img";
  std::ofstream(disk) << std::string(4096, 0);
  auto held = sys::open(disk, O_RDWR);
  ASSERT_TRUE(held);
  ASSERT_TRUE(sys::try_lock(held->get(), sys::LockMode::exclusive, disk).value_or(false));
  VmDefinition definition = vm("w");
  definition.config.disks.push_back({disk, false, false});
  auto refused = m_supervisor->start(definition);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::conflict);
  EXPECT_EQ(refused.error().message(), "disks: disk " + disk + " is in use by pid " +
                                           std::to_string(::getpid()) + " (this process)");
  definition.config.disks[0].readonly = true;
  EXPECT_FALSE(m_supervisor->start(definition)) << "nor may another guest read it";
  EXPECT_EQ(m_supervisor->status("w").state, VmState::stopped);
  held->reset();
  start(definition);
}

TEST_F(SupervisorTest, PauseFreezesTheProcessAndResumeThaws) {
  open();
  pid_t pid = start(vm("p"));
  wait_ready("p");
  EXPECT_FALSE(m_supervisor->resume("p")) << "not paused";
  ASSERT_TRUE(m_supervisor->pause("p"));
  EXPECT_EQ(m_supervisor->status("p").state, VmState::paused);
  auto proc = [pid] {
    return sys::read_until_end("/proc/" + std::to_string(pid) + "/stat", 4096).value_or("");
  };
  // The kernel stops the process asynchronously; its state letter turns to T.
  for (int i = 0; i < 2000 && proc().find(") T ") == std::string::npos; ++i)
    std::this_thread::sleep_for(milliseconds(1));
  EXPECT_NE(proc().find(") T "), std::string::npos);
  ASSERT_TRUE(m_supervisor->resume("p"));
  EXPECT_EQ(m_supervisor->status("p").state, VmState::running);
  ASSERT_TRUE(m_supervisor->stop("p", seconds(20)));
  EXPECT_EQ(m_supervisor->status("p").reason, "stopped on request");
}

TEST_F(SupervisorTest, ANewSupervisorAdoptsRunningGuestsAndReportsVanishedOnes) {
  open();
  start(vm("stays"));
  pid_t gone = start(vm("goes"));
  m_supervisor.reset();  // the daemon goes away; the guests do not
  ASSERT_EQ(::kill(gone, SIGKILL), 0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  open();
  EXPECT_EQ(m_supervisor->status("stays").state, VmState::running);
  VmStatus vanished = m_supervisor->status("goes");
  EXPECT_EQ(vanished.state, VmState::crashed);
  EXPECT_NE(vanished.reason.find("while havend was not running"), std::string::npos);
  ASSERT_TRUE(m_supervisor->kill("stays"));
  EXPECT_EQ(m_supervisor->status("stays").state, VmState::stopped);
}

TEST_F(SupervisorTest, EndedWatchersAreJoinedNotKept) {
  open();
  for (int i = 0; i < 5; ++i) {
    start(vm("again"));
    ASSERT_TRUE(m_supervisor->kill("again"));
  }
  // Each start joins the watchers whose VMM ended; the last one may still be finishing.
  EXPECT_LE(m_supervisor->watcher_count(), 2u);
}

TEST_F(SupervisorTest, AVmmThatCannotBeExecutedFailsTheStart) {
  std::filesystem::remove(m_dir + "/fake-vmm");
  open();
  auto refused = m_supervisor->start(vm("x"));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("cannot execute"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(m_supervisor->status("x").state, VmState::stopped);
}

TEST_F(SupervisorTest, GuestsMayNotCommitMoreMemoryThanAllowed) {
  open(0.0001);  // a few MiB of a host: no 512 MiB guest fits
  auto refused = m_supervisor->start(vm("big"));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("memory: starting 'big' (512 MiB)"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(refused.error().kind(), ErrorKind::conflict);
  EXPECT_EQ(refused.error().field(), "memory");
  EXPECT_EQ(m_supervisor->status("big").state, VmState::stopped);
}

TEST_F(SupervisorTest, ExplicitLimitsWithoutCgroupsAreRefused) {
  open();
  VmDefinition limited = vm("lim");
  limited.limits.cpu_quota = 0.5;
  auto refused = m_supervisor->start(limited);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("limits:"), std::string::npos);
}

}  // namespace
}  // namespace haven::daemon
