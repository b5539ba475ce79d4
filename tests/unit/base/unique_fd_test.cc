#include "base/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <type_traits>
#include <utility>

namespace haven {
namespace {

// fcntl(F_GETFD) fails with EBADF exactly when the descriptor is closed.
bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

bool is_closed(int fd) {
  errno = 0;
  return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

int open_null() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  return fd;
}

static_assert(!std::is_copy_constructible_v<UniqueFd>);
static_assert(!std::is_copy_assignable_v<UniqueFd>);
static_assert(std::is_nothrow_move_constructible_v<UniqueFd>);
static_assert(std::is_nothrow_move_assignable_v<UniqueFd>);

TEST(UniqueFd, DefaultIsInvalid) {
  UniqueFd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
}

TEST(UniqueFd, ClosesOnDestruction) {
  int raw = open_null();
  {
    UniqueFd fd(raw);
    EXPECT_TRUE(fd.valid());
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_TRUE(is_closed(raw));
}

TEST(UniqueFd, MoveConstructionTransfersOwnership) {
  int raw = open_null();
  UniqueFd source(raw);
  {
    UniqueFd target(std::move(source));
    EXPECT_EQ(source.get(), -1);  // NOLINT(bugprone-use-after-move): moved-from state is defined
    EXPECT_FALSE(source.valid());
    EXPECT_EQ(target.get(), raw);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_TRUE(is_closed(raw));
}

TEST(UniqueFd, MoveAssignmentClosesTheOldDescriptor) {
  int first = open_null();
  int second = open_null();
  UniqueFd target(first);
  {
    UniqueFd source(second);
    target = std::move(source);
    EXPECT_FALSE(source.valid());  // NOLINT(bugprone-use-after-move)
  }
  EXPECT_TRUE(is_closed(first));
  EXPECT_TRUE(is_open(second)) << "the source's destructor must not close what it gave away";
  EXPECT_EQ(target.get(), second);
}

TEST(UniqueFd, SelfMoveAssignmentKeepsTheDescriptor) {
  int raw = open_null();
  UniqueFd fd(raw);
  UniqueFd& alias = fd;
  fd = std::move(alias);
  EXPECT_EQ(fd.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFd, ReleaseGivesUpOwnershipWithoutClosing) {
  int raw = open_null();
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.release(), raw);
    EXPECT_FALSE(fd.valid());
  }
  EXPECT_TRUE(is_open(raw));
  UniqueFd cleanup(raw);
}

TEST(UniqueFd, ResetClosesAndAdopts) {
  int first = open_null();
  int second = open_null();
  UniqueFd fd(first);
  fd.reset(second);
  EXPECT_TRUE(is_closed(first));
  EXPECT_EQ(fd.get(), second);
  fd.reset();
  EXPECT_TRUE(is_closed(second));
  EXPECT_FALSE(fd.valid());
  fd.reset();  // resetting an empty UniqueFd closes nothing
  EXPECT_FALSE(fd.valid());
}

}  // namespace
}  // namespace haven
