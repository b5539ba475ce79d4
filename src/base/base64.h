#pragma once

// Base64 (RFC 4648 section 4: the standard alphabet, '=' padding; OpenSSL's coder) for binary
// data carried in JSON, such as a guest's UEFI variables in a backup's manifest.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace haven {

std::string to_base64(std::span<const uint8_t> data);
// Strict: only the alphabet, padded to a multiple of 4, no white space.
Result<std::vector<uint8_t>> from_base64(std::string_view text);

}  // namespace haven
