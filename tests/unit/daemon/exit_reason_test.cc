#include "daemon/exit_reason.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace haven::daemon {
namespace {

Outcome ended(std::optional<int> status, std::optional<int> signo, bool stop = false,
              bool kill = false, std::string said = "") {
  return classify_end({status, signo, stop, kill, std::move(said)});
}

TEST(ExitReason, TheGuestsOwnEndingsAreStops) {
  EXPECT_EQ(ended(0, {}).state, VmState::stopped);
  EXPECT_EQ(ended(0, {}).reason, "the guest powered off");
  EXPECT_EQ(ended(5, {}).state, VmState::stopped);
  EXPECT_EQ(ended(6, {}).reason, "quit from the console");
}

TEST(ExitReason, AskedForEndingsAreStopsAndTheRestCrashes) {
  EXPECT_EQ(ended(128 + SIGTERM, {}, true).state, VmState::stopped);
  EXPECT_EQ(ended(128 + SIGTERM, {}, true).reason, "stopped on request");
  EXPECT_EQ(ended({}, SIGKILL, true, true).reason, "killed on request");
  EXPECT_EQ(ended({}, SIGTERM, true).reason, "stopped on request") << "TERM before its handler";
  Outcome killed = ended({}, SIGKILL);
  EXPECT_EQ(killed.state, VmState::crashed) << "a SIGKILL nobody asked havend for";
  EXPECT_NE(killed.reason.find("signal 9"), std::string::npos);
  Outcome outside = ended(128 + SIGTERM, {});
  EXPECT_EQ(outside.state, VmState::stopped);
  EXPECT_NE(outside.reason.find("from outside havend"), std::string::npos);
}

TEST(ExitReason, CrashesCarryTheVmmsLastWord) {
  Outcome triple = ended(3, {}, false, false, "triple fault on vCPU 0 (rip=0x10)");
  EXPECT_EQ(triple.state, VmState::crashed);
  EXPECT_EQ(triple.reason, "the guest crashed: triple fault on vCPU 0 (rip=0x10)");
  EXPECT_EQ(ended(4, {}).state, VmState::crashed);
  EXPECT_EQ(ended(1, {}, false, false, "kernel /k: No such file").reason,
            "haven-vmm failed: kernel /k: No such file");
  EXPECT_EQ(ended(77, {}).state, VmState::crashed);
  EXPECT_EQ(ended({}, {}).state, VmState::stopped) << "adopted: the status is unknown";
}

TEST(ExitReason, AForbiddenSystemCallIsACrashNamingTheCall) {
  std::string said = "the vCPU thread made a system call its seccomp filter forbids: ptrace (101)";
  Outcome trapped = ended(8, {}, false, false, said);
  EXPECT_EQ(trapped.state, VmState::crashed);
  EXPECT_EQ(trapped.reason, said);
  EXPECT_EQ(ended(8, {}).reason, "haven-vmm made a system call its seccomp filter forbids");
}

TEST(ExitReason, LastMessageIsTheLastLineWithoutPrefixes) {
  EXPECT_EQ(last_message("haven-vmm: warning: x\nhaven-vmm: error: the end\n\n"), "the end");
  EXPECT_EQ(last_message("just one"), "just one");
  EXPECT_EQ(last_message(""), "");
}

}  // namespace
}  // namespace haven::daemon
