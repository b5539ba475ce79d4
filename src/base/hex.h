#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace haven {

// Lower-case hex of `size` bytes.
std::string to_hex(const uint8_t* data, size_t size);
// Decodes exactly `size` bytes of hex (either case).
Result<void> from_hex(std::string_view text, uint8_t* out, size_t size);

}  // namespace haven
