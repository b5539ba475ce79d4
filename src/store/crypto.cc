#include "store/crypto.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace haven::store {
namespace {

struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;

std::unexpected<Error> openssl_error(std::string_view what) {
  unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code) ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return make_error("{}: {}", what, text);
}

int as_int(size_t size) {
  return static_cast<int>(size);
}

}  // namespace

ChunkId sha256(std::span<const uint8_t> data) {
  ChunkId id;
  SHA256(data.data(), data.size(), id.bytes.data());
  return id;
}

ChunkId hmac_sha256(const Key& key, std::span<const uint8_t> data) {
  ChunkId id;
  unsigned length = 0;
  HMAC(EVP_sha256(), key.data(), as_int(key.size()), data.data(), data.size(), id.bytes.data(),
       &length);
  return id;
}

Result<ChunkId> hmac_sha256(const Key& key,
                            std::initializer_list<std::span<const uint8_t>> pieces) {
  std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr),
                                                        &EVP_MAC_free);
  if (!mac) return openssl_error("EVP_MAC_fetch HMAC");
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> context(EVP_MAC_CTX_new(mac.get()),
                                                                    &EVP_MAC_CTX_free);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!context || EVP_MAC_init(context.get(), key.data(), key.size(), params) != 1)
    return openssl_error("HMAC init");
  for (std::span<const uint8_t> piece : pieces)
    if (EVP_MAC_update(context.get(), piece.data(), piece.size()) != 1)
      return openssl_error("HMAC update");
  ChunkId id;
  size_t length = 0;
  if (EVP_MAC_final(context.get(), id.bytes.data(), &length, id.bytes.size()) != 1 ||
      length != id.bytes.size())
    return openssl_error("HMAC final");
  return id;
}

Result<void> seal(const Key& key, std::span<const uint8_t> associated,
                  std::span<const uint8_t> plain, std::vector<uint8_t>& out) {
  if (plain.size() > (1u << 30)) return make_error("seal: {} bytes is too much", plain.size());
  CipherContext context(EVP_CIPHER_CTX_new());
  if (!context) return openssl_error("EVP_CIPHER_CTX_new");
  size_t start = out.size();
  out.resize(start + kNonceBytes + plain.size() + kTagBytes);
  uint8_t* nonce = out.data() + start;
  uint8_t* cipher = nonce + kNonceBytes;
  TRY(random_bytes(std::span(nonce, kNonceBytes)));
  int length = 0;
  if (EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      (!associated.empty() && EVP_EncryptUpdate(context.get(), nullptr, &length, associated.data(),
                                                as_int(associated.size())) != 1) ||
      EVP_EncryptUpdate(context.get(), cipher, &length, plain.data(), as_int(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(context.get(), cipher + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, cipher + plain.size()) !=
          1) {
    out.resize(start);
    return openssl_error("AES-256-GCM encrypt");
  }
  return {};
}

Result<void> open_sealed_into(const Key& key, std::span<const uint8_t> associated,
                              std::span<const uint8_t> sealed, std::span<uint8_t> plain) {
  if (sealed.size() < kSealOverhead)
    return make_error("sealed data of {} bytes is shorter than nonce and tag", sealed.size());
  const uint8_t* nonce = sealed.data();
  const uint8_t* cipher = nonce + kNonceBytes;
  size_t cipher_size = sealed.size() - kSealOverhead;
  if (plain.size() != cipher_size)
    return make_error("sealed data holds {} bytes, {} expected", cipher_size, plain.size());
  CipherContext context(EVP_CIPHER_CTX_new());
  if (!context) return openssl_error("EVP_CIPHER_CTX_new");
  int length = 0;
  // The tag is a const input; OpenSSL's interface takes a non-const pointer.
  std::array<uint8_t, kTagBytes> tag;
  std::memcpy(tag.data(), cipher + cipher_size, kTagBytes);
  if (EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      (!associated.empty() && EVP_DecryptUpdate(context.get(), nullptr, &length, associated.data(),
                                                as_int(associated.size())) != 1) ||
      EVP_DecryptUpdate(context.get(), plain.data(), &length, cipher, as_int(cipher_size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1)
    return openssl_error("AES-256-GCM decrypt");
  if (EVP_DecryptFinal_ex(context.get(), plain.data() + length, &length) != 1) {
    ERR_clear_error();
    std::fill(plain.begin(), plain.end(), 0);  // nothing unauthenticated leaves
    return make_error("authentication failed (wrong key, or the data was changed)");
  }
  return {};
}

Result<std::vector<uint8_t>> open_sealed(const Key& key, std::span<const uint8_t> associated,
                                         std::span<const uint8_t> sealed) {
  if (sealed.size() < kSealOverhead)
    return make_error("sealed data of {} bytes is shorter than nonce and tag", sealed.size());
  std::vector<uint8_t> plain(sealed.size() - kSealOverhead);
  TRY(open_sealed_into(key, associated, sealed, plain));
  return plain;
}

Result<Key> derive_key(std::string_view passphrase, std::span<const uint8_t> salt,
                       const KdfParams& params) {
  Key key;
  // Memory: 128 * r * n bytes (32 MiB for the defaults); allow a little more than that.
  uint64_t max_memory = 128 * uint64_t{params.r} * params.n + (16u << 20);
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), params.n,
                     params.r, params.p, max_memory, key.data(), key.size()) != 1)
    return openssl_error("scrypt");
  return key;
}

Result<void> prepare_crypto() {
  if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr) != 1)
    return openssl_error("OPENSSL_init_crypto");
  // One use of each algorithm a VMM reading a repository needs, so that any provider behind
  // them is loaded and initialised.
  std::unique_ptr<EVP_CIPHER, decltype(&EVP_CIPHER_free)> cipher(
      EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr), &EVP_CIPHER_free);
  std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr),
                                                        &EVP_MAC_free);
  std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> digest(EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                                         &EVP_MD_free);
  if (!cipher || !mac || !digest) return openssl_error("fetching AES-256-GCM, HMAC and SHA256");
  uint8_t seed[16];
  return random_bytes(seed);
}

Result<void> random_bytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), as_int(out.size())) != 1) return openssl_error("RAND_bytes");
  return {};
}

}  // namespace haven::store
