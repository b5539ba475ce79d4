#pragma once

// The cryptography a repository uses, all from OpenSSL's libcrypto: SHA-256 and HMAC-SHA-256
// for chunk ids, AES-256-GCM for sealing (a random 96-bit nonce per message, the tag checked
// before any plaintext is used, associated data binding a message to its place), scrypt to
// turn a passphrase into a key, and the system's random bytes.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "store/chunk_id.h"

namespace haven::store {

using Key = std::array<uint8_t, 32>;

// A repository's secrets: one key seals data, the other names it.
struct MasterKeys {
  Key data;
  Key id;
};

// scrypt parameters, stored beside the salt so they can grow later.
struct KdfParams {
  uint64_t n = 1 << 15;
  uint32_t r = 8;
  uint32_t p = 1;
};

inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;
inline constexpr size_t kSealOverhead = kNonceBytes + kTagBytes;

ChunkId sha256(std::span<const uint8_t> data);
ChunkId hmac_sha256(const Key& key, std::span<const uint8_t> data);
// The same over several pieces, as if they were one (nothing copied).
Result<ChunkId> hmac_sha256(const Key& key, std::initializer_list<std::span<const uint8_t>> pieces);

// nonce || ciphertext || tag, appended to `out`.
Result<void> seal(const Key& key, std::span<const uint8_t> associated,
                  std::span<const uint8_t> plain, std::vector<uint8_t>& out);
// Fails (without producing anything) when the key is wrong or a byte was changed.
Result<std::vector<uint8_t>> open_sealed(const Key& key, std::span<const uint8_t> associated,
                                         std::span<const uint8_t> sealed);
// The same into `plain`, which must be exactly the plaintext's size; zeroed on failure.
Result<void> open_sealed_into(const Key& key, std::span<const uint8_t> associated,
                              std::span<const uint8_t> sealed, std::span<uint8_t> plain);

Result<Key> derive_key(std::string_view passphrase, std::span<const uint8_t> salt,
                       const KdfParams& params);
Result<void> random_bytes(std::span<uint8_t> out);

// Makes OpenSSL read its configuration and load what it names (providers and engines are
// shared libraries) now, rather than at its first use: haven-vmm calls it before its seccomp
// filter forbids mapping code (src/jail). Also seeds the random generator.
Result<void> prepare_crypto();

}  // namespace haven::store
