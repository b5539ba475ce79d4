#pragma once

// The one encoding every piece of repository data goes through, chunks, indexes and
// manifests alike: an 8-byte header (magic, kind, flags, plaintext size), then the payload,
// zstd-compressed when that saves space and sealed with AES-256-GCM when the repository is
// encrypted. The header and a caller's `binding` (a chunk's id, say) are the sealed message's
// associated data, so a blob cannot be moved to another place or kind unnoticed. Parsing
// treats the bytes as hostile (tests/fuzz/store_blob_fuzz.cc).

#include <cstdint>
#include <span>
#include <vector>

#include "base/error.h"
#include "store/crypto.h"

namespace haven::store {

enum class BlobKind : uint8_t { chunk = 1, index = 2, manifest = 3 };

inline constexpr size_t kBlobHeaderBytes = 8;
inline constexpr uint8_t kBlobMagic = 0xb7;
inline constexpr uint8_t kBlobCompressed = 1;
inline constexpr uint8_t kBlobSealed = 2;

struct BlobCodec {
  const MasterKeys* keys = nullptr;  // null: the repository is not encrypted
  int level = 3;                     // zstd level; 0 stores data uncompressed
};

Result<std::vector<uint8_t>> encode_blob(const BlobCodec& codec, BlobKind kind,
                                         std::span<const uint8_t> plain,
                                         std::span<const uint8_t> binding = {});
// `max_plain` bounds the memory a hostile header can make us allocate.
Result<std::vector<uint8_t>> decode_blob(const BlobCodec& codec, BlobKind kind,
                                         std::span<const uint8_t> blob, size_t max_plain,
                                         std::span<const uint8_t> binding = {});

}  // namespace haven::store
