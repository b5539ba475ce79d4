#include "daemon/instance_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "base/sys.h"

namespace haven::daemon {
namespace {

TEST(InstanceLockTest, ASecondClaimIsRefusedNamingTheFirstUntilItLetsGo) {
  std::string directory = ::testing::TempDir() + "haven-instance-lock-XXXXXX";
  ASSERT_NE(::mkdtemp(directory.data()), nullptr);
  std::string path = directory + "/havend.lock";
  {
    auto first = claim_instance_lock(path, "state directory " + directory);
    ASSERT_TRUE(first) << first.error().message();
    auto written = sys::read_file(path, 64);
    ASSERT_TRUE(written);
    EXPECT_EQ(std::string(written->begin(), written->end()), std::to_string(::getpid()) + "\n");
    auto second = claim_instance_lock(path, "state directory " + directory);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().message(),
              "state directory " + directory + " is in use by another havend (pid " +
                  std::to_string(::getpid()) + "); stop it first or choose another");
  }
  auto again = claim_instance_lock(path, "state directory " + directory);
  EXPECT_TRUE(again) << again.error().message();
  ::unlink(path.c_str());
  ::rmdir(directory.c_str());
}

}  // namespace
}  // namespace haven::daemon
