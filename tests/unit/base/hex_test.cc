#include "base/hex.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace haven {
namespace {

TEST(Hex, EncodesLowerCaseTwoDigitsPerByte) {
  const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  EXPECT_EQ(to_hex(bytes, sizeof(bytes)), "00017f80abff");
  EXPECT_EQ(to_hex(bytes, 0), "");
}

TEST(Hex, EveryByteValueSurvivesTheRoundTrip) {
  std::vector<uint8_t> bytes(256);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  std::string text = to_hex(bytes.data(), bytes.size());
  ASSERT_EQ(text.size(), 512u);
  std::vector<uint8_t> back(256, 0x5a);
  ASSERT_TRUE(from_hex(text, back.data(), back.size()));
  EXPECT_EQ(back, bytes);
}

TEST(Hex, DecodesEitherCase) {
  std::array<uint8_t, 4> out{};
  ASSERT_TRUE(from_hex("DeadBEEF", out.data(), out.size()));
  EXPECT_EQ(out, (std::array<uint8_t, 4>{0xde, 0xad, 0xbe, 0xef}));
  ASSERT_TRUE(from_hex("", out.data(), 0)) << "zero bytes from no digits";
}

TEST(Hex, WrongLengthIsRefusedSayingHowManyDigits) {
  std::array<uint8_t, 2> out{};
  auto odd = from_hex("abc", out.data(), out.size());
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message().find("4 hex digits"), std::string::npos) << odd.error().message();
  EXPECT_FALSE(from_hex("abcdef", out.data(), out.size())) << "too long";
  EXPECT_FALSE(from_hex("", out.data(), out.size())) << "too short";
}

TEST(Hex, NonHexDigitsAreRefused) {
  std::array<uint8_t, 2> out{};
  for (const char* text : {"0g00", "000G", " 123", "12-4", "0x12"}) {
    auto decoded = from_hex(text, out.data(), out.size());
    ASSERT_FALSE(decoded) << text;
    EXPECT_NE(decoded.error().message().find("is not hex"), std::string::npos)
        << decoded.error().message();
  }
}

TEST(Hex, LongBadInputIsShortenedInTheMessage) {
  std::string text(1000, 'z');
  std::vector<uint8_t> out(500);
  auto decoded = from_hex(text, out.data(), out.size());
  ASSERT_FALSE(decoded);
  EXPECT_LT(decoded.error().message().size(), 200u) << decoded.error().message();
}

}  // namespace
}  // namespace haven
