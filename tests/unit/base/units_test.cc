#include "base/units.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

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

TEST(Units, ZeroIsASize) {
  EXPECT_EQ(*parse_size("0", MiB), 0u);
  EXPECT_EQ(*parse_size("0G", MiB), 0u);
}

TEST(Units, ByteSuffixAndSpelledOutUnits) {
  EXPECT_EQ(*parse_size("4096B", MiB), 4096u);
  EXPECT_EQ(*parse_size("1b", MiB), 1u);
  EXPECT_EQ(*parse_size("8kib", MiB), 8 * KiB);
  EXPECT_EQ(*parse_size("3KB", MiB), 3 * KiB);
  EXPECT_EQ(*parse_size("2TiB", MiB), 2048 * GiB);
}

TEST(Units, UnknownSuffixesAreRefusedWithTheUnitsNamed) {
  for (const char* text : {"1P", "1E", "5KK", "5MBB", "5MiBs", "5GI", "5iB", "7 M", "1X"}) {
    auto result = parse_size(text, MiB);
    ASSERT_FALSE(result) << "'" << text << "' parsed as " << *result;
    EXPECT_EQ(result.error().message(),
              fmt::format("'{}' has an unknown unit (use K, M, G or T)", text));
  }
}

TEST(Units, NotANumberIsRefused) {
  auto result = parse_size("G", MiB);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(),
            "'G' is not a size (expected a number with K, M, G or T, like 512M)");
}

TEST(Units, OverflowIsCaughtAtTheExactBoundary) {
  // 2^64 - 1 is the largest size; 2^64 is one too many, whichever way it is spelled.
  EXPECT_EQ(*parse_size("18446744073709551615", 1), UINT64_MAX);
  EXPECT_EQ(*parse_size("18446744073709551615B", MiB), UINT64_MAX);
  EXPECT_EQ(*parse_size("16777215T", MiB), uint64_t{16777215} * 1024 * GiB);
  EXPECT_EQ(*parse_size("17179869183G", MiB), uint64_t{17179869183} * GiB);
  for (const char* text : {"18446744073709551616", "16777216T", "17179869184G", "17592186044416M",
                           "18014398509481984K", "17592186044416",
                           // These wrap to a product larger than the number, so a check of
                           // `number * unit < number` would let them through.
                           "16777217T", "25000000000G"}) {
    auto result = parse_size(text, MiB);
    ASSERT_FALSE(result) << "'" << text << "' parsed as " << *result;
    EXPECT_EQ(result.error().message(), fmt::format("'{}' is too large", text));
  }
}

TEST(Units, FormatsEdgeCases) {
  EXPECT_EQ(format_size(0), "0 bytes");
  EXPECT_EQ(format_size(1023), "1023 bytes");
  EXPECT_EQ(format_size(1024), "1 KiB");
  EXPECT_EQ(format_size(1536), "1536 bytes");
  EXPECT_EQ(format_size(GiB + 512 * MiB), "1536 MiB");
  EXPECT_EQ(format_size(1024 * GiB), "1 TiB");
  EXPECT_EQ(format_size(1024 * 1024 * GiB), "1024 TiB") << "TiB is the largest unit";
  EXPECT_EQ(format_size(UINT64_MAX), "18446744073709551615 bytes");
}

TEST(Units, FormattedSizesParseBack) {
  for (uint64_t size : {uint64_t{4096}, 16 * MiB, 3 * GiB, 2048 * GiB}) {
    std::string text = format_size(size);
    std::erase(text, ' ');
    auto parsed = parse_size(text, MiB);
    ASSERT_TRUE(parsed) << text << ": " << parsed.error().message();
    EXPECT_EQ(*parsed, size) << text;
  }
}

}  // namespace
}  // namespace haven
