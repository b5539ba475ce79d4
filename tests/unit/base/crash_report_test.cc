#include "base/crash_report.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace haven {
namespace {

TEST(CrashReportDeathTest, ACrashNamesItsSignalAndStackThenDiesOfIt) {
  EXPECT_EXIT(
      {
        install_crash_report("crash-test");
        ::raise(SIGSEGV);
      },
      ::testing::KilledBySignal(SIGSEGV), "crash-test: crashed on signal SIGSEGV; its stack");
}

TEST(CrashReportDeathTest, AnAbortIsReportedToo) {
  EXPECT_EXIT(
      {
        install_crash_report("crash-test");
        std::abort();
      },
      ::testing::KilledBySignal(SIGABRT), "crashed on signal SIGABRT");
}

}  // namespace
}  // namespace haven
