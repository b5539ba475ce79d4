#pragma once

// Text seen as the bytes it is made of, for the calls that write bytes.

#include <cstdint>
#include <span>
#include <string_view>

namespace haven {

inline std::span<const uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace haven
