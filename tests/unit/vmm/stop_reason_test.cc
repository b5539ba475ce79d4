#include "vmm/stop_reason.h"

#include <gtest/gtest.h>

#include <csignal>
#include <set>

namespace haven::vmm {
namespace {

TEST(StopReason, EachKindHasItsDocumentedStatus) {
  EXPECT_EQ(exit_status({StopKind::power_off, "powered off"}), 0);
  EXPECT_EQ(exit_status({StopKind::error, "failed"}), 1);
  EXPECT_EQ(exit_status({StopKind::crash, "triple fault"}), 3);
  EXPECT_EQ(exit_status({StopKind::panic, "panicked"}), 4);
  EXPECT_EQ(exit_status({StopKind::reset, "reset"}), 5);
  EXPECT_EQ(exit_status({StopKind::user_quit, "Ctrl-A x"}), 6);
}

TEST(StopReason, TheConstantsMatchTheDocumentation) {
  EXPECT_EQ(kExitPowerOff, 0);
  EXPECT_EQ(kExitError, 1);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitCrash, 3);
  EXPECT_EQ(kExitPanic, 4);
  EXPECT_EQ(kExitReset, 5);
  EXPECT_EQ(kExitUserQuit, 6);
}

TEST(StopReason, SignalsExitAs128PlusTheSignal) {
  EXPECT_EQ(exit_status({StopKind::host_signal, "", SIGHUP}), 129);
  EXPECT_EQ(exit_status({StopKind::host_signal, "", SIGINT}), 130);
  EXPECT_EQ(exit_status({StopKind::host_signal, "", SIGTERM}), 143);
}

TEST(StopReason, TheSignalNumberMattersOnlyForSignals) {
  EXPECT_EQ(exit_status({StopKind::power_off, "", SIGTERM}), 0);
  EXPECT_EQ(exit_status({StopKind::panic, "", SIGINT}), 4);
}

TEST(StopReason, StatusesAreDistinctAndClearOfSignalStatuses) {
  std::set<int> seen;
  for (StopKind kind : {StopKind::power_off, StopKind::reset, StopKind::panic, StopKind::crash,
                        StopKind::user_quit, StopKind::error}) {
    int status = exit_status({kind, ""});
    EXPECT_LT(status, 128);
    EXPECT_TRUE(seen.insert(status).second) << "status " << status << " used twice";
  }
  EXPECT_FALSE(seen.contains(kExitUsage)) << "2 is for bad command lines only";
}

TEST(StopReason, AnUnknownKindIsAnError) {
  EXPECT_EQ(exit_status({static_cast<StopKind>(99), ""}), kExitError);
}

}  // namespace
}  // namespace haven::vmm
