#include "base/error.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "base/sys.h"

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

TEST(Error, FromErrnoAppendsTheErrnoText) {
  Error error = Error::from_errno("open /dev/kvm", EACCES);
  EXPECT_EQ(error.message(), "open /dev/kvm: Permission denied");
  EXPECT_EQ(error.code(), EACCES);
}

TEST(Error, FromMessageHasNoErrno) {
  Error error = Error::from_message("plain");
  EXPECT_EQ(error.message(), "plain");
  EXPECT_EQ(error.code(), 0);
}

TEST(Error, ContextKeepsTheInnermostErrno) {
  Error error = Error::from_errno("pread", EIO)
                    .with_context("request at sector 8")
                    .with_context("virtio-blk vda");
  EXPECT_EQ(error.message(), "virtio-blk vda: request at sector 8: pread: Input/output error");
  EXPECT_EQ(error.code(), EIO);
}

// Formatting this type clobbers errno, as a careless allocation or log call might.
struct ClobbersErrno {};

}  // namespace
}  // namespace haven

template <>
struct fmt::formatter<haven::ClobbersErrno> : fmt::formatter<std::string_view> {
  auto format(haven::ClobbersErrno, fmt::format_context& ctx) const {
    errno = EINVAL;
    ++calls;
    return fmt::formatter<std::string_view>::format("clobber", ctx);
  }
  static inline int calls = 0;
};

namespace haven {
namespace {

TEST(Error, ErrnoErrorCapturesErrnoBeforeFormatting) {
  errno = ENOSPC;
  auto error = errno_error("write {}", ClobbersErrno{});
  EXPECT_EQ(error.error().code(), ENOSPC);
  EXPECT_EQ(error.error().message(), "write clobber: No space left on device");
}

TEST(Error, WithContextOnSuccessPassesTheValueAndFormatsNothing) {
  int before = fmt::formatter<ClobbersErrno>::calls;
  Result<int> ok = with_context(Result<int>(42), "never {}", ClobbersErrno{});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 42);
  EXPECT_EQ(fmt::formatter<ClobbersErrno>::calls, before);

  Result<int> failed = with_context(Result<int>(make_error("inner")), "outer {}", ClobbersErrno{});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "outer clobber: inner");
  EXPECT_EQ(fmt::formatter<ClobbersErrno>::calls, before + 1);
}

TEST(Error, WithContextWorksForVoidResults) {
  Result<void> ok = with_context(Result<void>(), "unused");
  EXPECT_TRUE(ok);
  Result<void> failed = with_context(Result<void>(make_error("disk full")), "saving {}", "state");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "saving state: disk full");
}

Result<void> fail_if(bool fail) {
  if (fail) return make_error("asked to fail");
  return {};
}

Result<std::string> try_chain(bool fail_first, bool fail_second, int& steps) {
  TRY(fail_if(fail_first));
  ++steps;
  TRY(with_context(fail_if(fail_second), "second step"));
  ++steps;
  std::string moved = TRY(Result<std::string>(std::string(100, 'v')));
  return moved;
}

TEST(Error, TryStopsAtTheFirstFailureAndYieldsValuesOtherwise) {
  int steps = 0;
  auto first = try_chain(true, false, steps);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().message(), "asked to fail");
  EXPECT_EQ(steps, 0);

  steps = 0;
  auto second = try_chain(false, true, steps);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message(), "second step: asked to fail");
  EXPECT_EQ(steps, 1);

  steps = 0;
  auto ok = try_chain(false, false, steps);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(*ok, std::string(100, 'v'));
  EXPECT_EQ(steps, 2);
}

TEST(Error, MakeErrorFormatsItsArguments) {
  auto error = make_error("bad {} at {:#x}", "descriptor", 0x1000);
  EXPECT_EQ(error.error().message(), "bad descriptor at 0x1000");
  EXPECT_EQ(error.error().code(), 0);
}

TEST(Error, AKindAndItsFieldSurviveContext) {
  auto failed = with_context(
      Result<int>(field_error(ErrorKind::conflict, "state", "'{}' is {}", "vm1", "running")),
      "start");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "start: state: 'vm1' is running");
  EXPECT_EQ(failed.error().kind(), ErrorKind::conflict);
  EXPECT_EQ(failed.error().field(), "state");
}

TEST(Error, ThePlainErrorIsInternalAboutNoField) {
  auto failed = make_error("disk full");
  EXPECT_EQ(failed.error().kind(), ErrorKind::internal);
  EXPECT_EQ(failed.error().field(), "");
  EXPECT_STREQ(to_string(failed.error().kind()), "internal");
}

TEST(Error, TheOutermostFieldWinsAndAKindWithoutOneKeepsIt) {
  Result<void> inner = field_error(ErrorKind::invalid, "memory", "'3M' is out of range");
  auto outer = about_field(std::move(inner), ErrorKind::invalid, "config");
  ASSERT_FALSE(outer);
  EXPECT_EQ(outer.error().message(), "config: memory: '3M' is out of range");
  EXPECT_EQ(outer.error().field(), "config");
  auto rekinded = with_kind(std::move(outer), ErrorKind::conflict);
  ASSERT_FALSE(rekinded);
  EXPECT_EQ(rekinded.error().kind(), ErrorKind::conflict);
  EXPECT_EQ(rekinded.error().field(), "config");
  EXPECT_TRUE(with_kind(Result<int>(3), ErrorKind::invalid).value() == 3);
}

TEST(Error, KindsRoundTripThroughTheirNames) {
  for (ErrorKind kind : {ErrorKind::internal, ErrorKind::invalid, ErrorKind::not_found,
                         ErrorKind::conflict, ErrorKind::unavailable})
    EXPECT_EQ(error_kind_from_string(to_string(kind)), kind);
  EXPECT_EQ(error_kind_from_string("bogus"), ErrorKind::internal);
}

TEST(Error, AKindErrorNamesNoField) {
  auto missing = kind_error(ErrorKind::not_found, "no VM named '{}'", "x");
  EXPECT_EQ(missing.error().message(), "no VM named 'x'");
  EXPECT_EQ(missing.error().kind(), ErrorKind::not_found);
  EXPECT_EQ(missing.error().field(), "");
}

}  // namespace
}  // namespace haven
