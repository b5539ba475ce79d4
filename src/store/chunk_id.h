#pragma once

// The name of a piece of data in a repository: 32 bytes, SHA-256 of the plaintext, or an
// HMAC-SHA-256 under the repository's id key when it is encrypted (so equal ids reveal equal
// data only to someone holding the key). Printed as 64 hex digits.

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/hex.h"

namespace haven::store {

struct ChunkId {
  std::array<uint8_t, 32> bytes{};

  std::string hex() const;
  static Result<ChunkId> from_hex(std::string_view text);
  auto operator<=>(const ChunkId&) const = default;
};

struct ChunkIdHash {
  size_t operator()(const ChunkId& id) const {
    size_t value;  // the id is already uniformly distributed
    std::memcpy(&value, id.bytes.data(), sizeof(value));
    return value;
  }
};

using haven::from_hex;
using haven::to_hex;

}  // namespace haven::store
