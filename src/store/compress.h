#pragma once

// zstd compression of one chunk or metadata blob.

#include <cstdint>
#include <span>
#include <vector>

#include "base/error.h"

namespace haven::store {

// Appends the compressed form of `plain` to `out`.
Result<void> compress(std::span<const uint8_t> plain, int level, std::vector<uint8_t>& out);
// Fails unless `compressed` is one zstd frame that decodes to exactly `plain_size` bytes.
Result<std::vector<uint8_t>> decompress(std::span<const uint8_t> compressed, size_t plain_size);
// The same into `plain`, which must be exactly the decoded size.
Result<void> decompress_into(std::span<const uint8_t> compressed, std::span<uint8_t> plain);

}  // namespace haven::store
