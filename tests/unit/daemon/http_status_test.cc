#include "daemon/http_status.h"

#include <gtest/gtest.h>

namespace haven::daemon {
namespace {

TEST(HttpStatus, EachKindHasItsStatus) {
  EXPECT_EQ(http_status(ErrorKind::invalid), 400);
  EXPECT_EQ(http_status(ErrorKind::not_found), 404);
  EXPECT_EQ(http_status(ErrorKind::conflict), 409);
  EXPECT_EQ(http_status(ErrorKind::unavailable), 503);
  EXPECT_EQ(http_status(ErrorKind::forbidden), 403);
  EXPECT_EQ(http_status(ErrorKind::internal), 500);
}

}  // namespace
}  // namespace haven::daemon
