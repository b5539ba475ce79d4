#include "base/file_lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

#include "base/sys.h"
#include "base/unique_fd.h"

namespace haven::sys {
namespace {

TEST(FileLockTest, HoldersAreTheFlockLinesOfTheFileAndNotItsWaiters) {
  const dev_t device = ::makedev(0xfd, 0x1);
  const char* text =
      "1: POSIX  ADVISORY  WRITE 10 fd:01:77 0 EOF\n"
      "2: FLOCK  ADVISORY  WRITE 11 fd:01:77 0 EOF\n"
      "2: -> FLOCK  ADVISORY  WRITE 12 fd:01:77 0 EOF\n"
      "3: FLOCK  ADVISORY  READ 13 fd:01:77 0 EOF\n"
      "4: FLOCK  ADVISORY  READ 13 fd:01:77 0 EOF\n"
      "5: FLOCK  ADVISORY  WRITE 14 fd:01:78 0 EOF\n"
      "6: FLOCK  ADVISORY  WRITE 15 08:01:77 0 EOF\n"
      "7: OFDLCK ADVISORY  READ -1 fd:01:77 0 EOF\n"
      "8: FLOCK  ADVISORY  WRITE x fd:01:77 0 EOF\n"
      "9: FLOCK  ADVISORY  WRITE 16 fd:01\n"
      "garbage\n"
      "\n"
      "10: FLOCK  ADVISORY  WRITE 17 fd:01:77 0 EOF";
  EXPECT_EQ(parse_lock_holders(text, device, 77), (std::vector<pid_t>{11, 13, 17}));
  EXPECT_TRUE(parse_lock_holders("", device, 77).empty());
  // Without a device (overlayfs: stat's is not the one /proc/locks shows), the inode alone.
  EXPECT_EQ(parse_lock_holders(text, std::nullopt, 77), (std::vector<pid_t>{11, 13, 15, 17}));
}

TEST(FileLockTest, AnExclusiveLockExcludesEveryOtherOpenFileAndNamesItsHolder) {
  std::string path = ::testing::TempDir() + "haven-file-lock-XXXXXX";
  int raw = ::mkstemp(path.data());
  ASSERT_GE(raw, 0);
  UniqueFd first(raw);
  auto second = sys::open(path, O_RDONLY);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(describe_lock_holders(first.get()), "another process");  // nobody holds it yet
  ASSERT_TRUE(try_lock(first.get(), LockMode::exclusive, path).value_or(false));
  EXPECT_FALSE(try_lock(second->get(), LockMode::shared, path).value_or(true));
  EXPECT_EQ(lock_holders(second->get()), std::vector<pid_t>{::getpid()});
  EXPECT_EQ(describe_lock_holders(second->get()),
            "pid " + std::to_string(::getpid()) + " (this process)");
  first.reset();  // closing lets go
  EXPECT_TRUE(try_lock(second->get(), LockMode::shared, path).value_or(false));
  auto third = sys::open(path, O_RDONLY);
  ASSERT_TRUE(third);
  EXPECT_TRUE(try_lock(third->get(), LockMode::shared, path).value_or(false));
  EXPECT_FALSE(try_lock(-1, LockMode::shared, path));
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace haven::sys
