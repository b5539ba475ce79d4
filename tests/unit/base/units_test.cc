#include "base/units.h"

#include <gtest/gtest.h>

namespace haven {
namespace {

TEST(Units, ParsesSuffixesCaseInsensitively) {
  EXPECT_EQ(*parse_size("512M", MiB), 512 * MiB);
  EXPECT_EQ(*parse_size("2g", MiB), 2 * GiB);
  EXPECT_EQ(*parse_size("1536K", MiB), 1536 * KiB);
  EXPECT_EQ(*parse_size("1GiB", MiB), GiB);
  EXPECT_EQ(*parse_size("4MB", MiB), 4 * MiB);
  EXPECT_EQ(*parse_size("1T", MiB), 1024 * GiB);
}

TEST(Units, BareNumbersCountInTheGivenUnit) {
  EXPECT_EQ(*parse_size("256", MiB), 256 * MiB);
  EXPECT_EQ(*parse_size("4096", 1), 4096u);
}

TEST(Units, RejectsGarbageAndOverflow) {
  for (const char* text : {"", "M", "12Q", "1.5G", "-1G", " 1G", "1G ", "0x10",
                           "99999999999999999999", "17179869184G"}) {
    EXPECT_FALSE(parse_size(text, MiB)) << "'" << text << "'";
  }
  auto error = parse_size("12Q", MiB);
  ASSERT_FALSE(error);
  EXPECT_NE(error.error().message().find("12Q"), std::string::npos) << error.error().message();
}

TEST(Units, FormatsExactUnits) {
  EXPECT_EQ(format_size(512 * MiB), "512 MiB");
  EXPECT_EQ(format_size(2 * GiB), "2 GiB");
  EXPECT_EQ(format_size(4096), "4 KiB");
  EXPECT_EQ(format_size(1000), "1000 bytes");
}

}  // namespace
}  // namespace haven
