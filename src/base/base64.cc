#include "base/base64.h"

#include <openssl/evp.h>

#include <algorithm>
#include <climits>

namespace haven {

// OpenSSL's block coder does the work; it is lenient (white space, stray bits before the
// padding), so a decoded text must also encode back to itself: one encoding per byte string.

std::string to_base64(std::span<const uint8_t> data) {
  std::string text((data.size() + 2) / 3 * 4 + 1, '\0');
  if (data.empty()) return {};
  int written = ::EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), data.data(),
                                  static_cast<int>(data.size()));
  text.resize(static_cast<size_t>(written));
  return text;
}

Result<std::vector<uint8_t>> from_base64(std::string_view text) {
  if (text.size() % 4 != 0)
    return make_error("base64: {} characters is not a multiple of 4", text.size());
  if (text.size() > INT_MAX) return make_error("base64: {} characters is too long", text.size());
  if (text.empty()) return std::vector<uint8_t>{};
  std::vector<uint8_t> data(text.size() / 4 * 3);
  int decoded = ::EVP_DecodeBlock(data.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
  if (decoded < 0) return make_error("base64: a character that is not base64");
  size_t padding = (text.back() == '=') + (text.size() > 1 && text[text.size() - 2] == '=');
  data.resize(static_cast<size_t>(decoded) - std::min(padding, static_cast<size_t>(decoded)));
  if (to_base64(data) != text)
    return make_error("base64: not in canonical form (white space, padding or stray bits)");
  return data;
}

}  // namespace haven
