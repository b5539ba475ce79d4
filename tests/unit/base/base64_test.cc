#include "base/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace haven {
namespace {

std::vector<uint8_t> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

TEST(Base64, EncodesTheRfc4648TestVectors) {
  EXPECT_EQ(to_base64(bytes("")), "");
  EXPECT_EQ(to_base64(bytes("f")), "Zg==");
  EXPECT_EQ(to_base64(bytes("fo")), "Zm8=");
  EXPECT_EQ(to_base64(bytes("foo")), "Zm9v");
  EXPECT_EQ(to_base64(bytes("foob")), "Zm9vYg==");
  EXPECT_EQ(to_base64(bytes("fooba")), "Zm9vYmE=");
  EXPECT_EQ(to_base64(bytes("foobar")), "Zm9vYmFy");
}

TEST(Base64, EveryByteValueAndLengthSurvivesTheRoundTrip) {
  std::vector<uint8_t> data(256);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(255 - i);
  for (size_t length = 0; length <= data.size(); ++length) {
    std::vector<uint8_t> part(data.begin(), data.begin() + static_cast<ptrdiff_t>(length));
    auto back = from_base64(to_base64(part));
    ASSERT_TRUE(back) << length << ": " << back.error().message();
    EXPECT_EQ(*back, part) << length;
  }
}

TEST(Base64, RefusesWhatIsNotStrictBase64) {
  for (const char* bad : {"Zg=", "Zg", "Z===", "Zg=a", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n",
                          "Zg==Zg==", "=Zg=", "Zm-v", "Zm_v"}) {
    auto decoded = from_base64(bad);
    ASSERT_FALSE(decoded) << "'" << bad << "' was accepted";
    EXPECT_TRUE(decoded.error().message().starts_with("base64: ")) << bad;
  }
}

}  // namespace
}  // namespace haven
