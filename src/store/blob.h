#pragma once

// The one encoding every piece of repository data goes through, chunks, indexes and
// manifests alike: an 8-byte header (magic, kind, flags, plaintext size), then the payload,
// zstd-compressed when that saves space and sealed with AES-256-GCM when the repository is
// encrypted. The header and a caller's `binding` (a chunk's id, say) are the sealed message's
// associated data, so a blob cannot be moved to another place or kind unnoticed. In an
// unencrypted repository of version 3 every blob but a chunk's (which its id, a SHA-256 of its
// data, vouches for) carries an HMAC-SHA-256 tag under the repository's authentication key over
// the same (header, binding, body): a manifest or index cannot be changed unnoticed there either.
// Parsing
// treats the bytes as hostile (tests/fuzz/store_blob_fuzz.cc).

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "base/error.h"
#include "store/crypto.h"

namespace haven::store {

enum class BlobKind : uint8_t {
  chunk = 1,
  index = 2,
  manifest = 3,
  chunk_list = 4,
  boot_record = 5,
  pack_contents = 6,  // a pack's own list of its blobs (pack.h)
};

inline constexpr size_t kBlobHeaderBytes = 8;
inline constexpr uint8_t kBlobMagic = 0xb7;
inline constexpr uint8_t kBlobCompressed = 1;
inline constexpr uint8_t kBlobSealed = 2;
inline constexpr uint8_t kBlobAuthenticated = 4;  // an HMAC-SHA-256 tag follows the body
inline constexpr size_t kAuthTagBytes = 32;

// The most bytes a blob of `plain_size` bytes can take: compressed only when that is smaller,
// plus its header and, sealed, the nonce and tag. What an index says of a blob is held to it.
inline constexpr uint64_t max_blob_bytes(uint64_t plain_size) {
  return kBlobHeaderBytes + plain_size + std::max(kSealOverhead, kAuthTagBytes);
}

struct BlobCodec {
  const MasterKeys* keys = nullptr;  // null: the repository is not encrypted
  int level = 1;                     // zstd level; 0 stores data uncompressed
  // Unencrypted repositories of version 3: the key every blob but a chunk's is tagged under.
  const Key* auth = nullptr;
};

Result<std::vector<uint8_t>> encode_blob(const BlobCodec& codec, BlobKind kind,
                                         std::span<const uint8_t> plain,
                                         std::span<const uint8_t> binding = {});
// The same into `blob` (its contents replaced), reusing its memory.
Result<void> encode_blob_into(const BlobCodec& codec, BlobKind kind, std::span<const uint8_t> plain,
                              std::span<const uint8_t> binding, std::vector<uint8_t>& blob);

struct BlobHeader {
  uint8_t flags = 0;
  uint32_t plain_size = 0;
};
// Checks a blob's header: magic, kind, flags, sealed as the repository is, size at most
// `max_plain` (which bounds the memory a hostile header can make us allocate).
Result<BlobHeader> parse_blob_header(const BlobCodec& codec, BlobKind kind,
                                     std::span<const uint8_t> blob, size_t max_plain);

// Whether an unsealed blob's body can hold the size its header claims (stored data that long,
// or a zstd frame that declares it and is at least 1/32768 of it, zstd's largest expansion),
// to check before allocating that much. A sealed blob's header is checked only when it is
// opened, which authenticates it.
Result<void> check_unsealed_size(const BlobHeader& header, std::span<const uint8_t> blob);

// Allocates the claimed size only once the body could hold it (as check_unsealed_size says,
// for a sealed compressed blob once the seal is opened).
Result<std::vector<uint8_t>> decode_blob(const BlobCodec& codec, BlobKind kind,
                                         std::span<const uint8_t> blob, size_t max_plain,
                                         std::span<const uint8_t> binding = {});
// The same into `plain`, which must be exactly the blob's plaintext size. On failure `plain`
// holds nothing to be trusted.
Result<void> decode_blob_into(const BlobCodec& codec, BlobKind kind, std::span<const uint8_t> blob,
                              std::span<const uint8_t> binding, std::span<uint8_t> plain);

}  // namespace haven::store
