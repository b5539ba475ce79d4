#include "base/error.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "base/sys.h"
#include "base/unique_fd.h"

namespace haven {
namespace {

Result<int> inner() {
  return make_error("bad value {:#x}", 0x10);
}
Result<int> outer() {
  int value = TRY(with_context(inner(), "device {}", "vda"));
  return value + 1;
}

TEST(Error, ContextIsPrependedAsItRises) {
  auto result = outer();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(), "device vda: bad value 0x10");
  EXPECT_EQ(result.error().code(), 0);
}

TEST(Error, SyscallErrorsNameTheCallTheObjectAndErrno) {
  auto fd = sys::open("/nonexistent/haven-test", O_RDONLY);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code(), ENOENT);
  EXPECT_NE(fd.error().message().find("/nonexistent/haven-test"), std::string::npos);
  EXPECT_NE(fd.error().message().find("No such file or directory"), std::string::npos);
}

TEST(Error, ReadFileRefusesFilesOverItsLimit) {
  auto bytes = sys::read_file("/proc/self/exe", 16);
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.error().message().find("/proc/self/exe"), std::string::npos);
}

TEST(UniqueFd, ClosesExactlyOnceAndMoves) {
  int raw = -1;
  {
    auto fd = sys::open("/dev/null", O_RDONLY);
    ASSERT_TRUE(fd);
    raw = fd->get();
    EXPECT_NE(fcntl(raw, F_GETFD), -1);
    UniqueFd moved = std::move(*fd);
    EXPECT_FALSE(fd->valid());
    EXPECT_EQ(moved.get(), raw);
  }
  EXPECT_EQ(fcntl(raw, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace haven
