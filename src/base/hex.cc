#include "base/hex.h"

namespace haven {
namespace {

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string to_hex(const uint8_t* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(2 * size, '0');
  for (size_t i = 0; i < size; ++i) {
    text[2 * i] = kDigits[data[i] >> 4];
    text[2 * i + 1] = kDigits[data[i] & 15];
  }
  return text;
}

Result<void> from_hex(std::string_view text, uint8_t* out, size_t size) {
  if (text.size() != 2 * size)
    return make_error("'{}' is not {} hex digits", text.substr(0, 80), 2 * size);
  for (size_t i = 0; i < size; ++i) {
    int high = nibble(text[2 * i]), low = nibble(text[2 * i + 1]);
    if (high < 0 || low < 0) return make_error("'{}' is not hex", text.substr(0, 80));
    out[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return {};
}

}  // namespace haven
