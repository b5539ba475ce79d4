#include "store/key_file.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "base/bytes.h"

namespace haven::store {
namespace {

constexpr std::string_view kAssociated = "haven-key-v1";

}  // namespace

Result<std::string> make_key_file(const MasterKeys& keys, std::string_view passphrase,
                                  const KdfParams& params) {
  std::array<uint8_t, 16> salt;
  TRY(random_bytes(salt));
  Key wrapping = TRY(derive_key(passphrase, salt, params));
  std::array<uint8_t, 64> plain;
  std::memcpy(plain.data(), keys.data.data(), 32);
  std::memcpy(plain.data() + 32, keys.id.data(), 32);
  std::vector<uint8_t> sealed;
  TRY(seal(wrapping, bytes_of(kAssociated), plain, sealed));
  nlohmann::json json = {{"kdf", "scrypt"},
                         {"n", params.n},
                         {"r", params.r},
                         {"p", params.p},
                         {"salt", to_hex(salt.data(), salt.size())},
                         {"sealed", to_hex(sealed.data(), sealed.size())}};
  return json.dump(2) + "\n";
}

Result<MasterKeys> unlock_key_file(std::string_view text, std::string_view passphrase) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return make_error("key file is not JSON");
  KdfParams params;
  std::string salt_hex, sealed_hex;
  try {
    if (json.at("kdf").get<std::string>() != "scrypt") return make_error("unknown key derivation");
    params.n = json.at("n").get<uint64_t>();
    params.r = json.at("r").get<uint32_t>();
    params.p = json.at("p").get<uint32_t>();
    salt_hex = json.at("salt").get<std::string>();
    sealed_hex = json.at("sealed").get<std::string>();
  } catch (const nlohmann::json::exception& error) {
    return make_error("bad key file: {}", error.what());
  }
  // Bounds that keep a hostile key file from asking for gigabytes or hours.
  if (params.n < 2 || params.n > (1u << 22) || (params.n & (params.n - 1)) || params.r == 0 ||
      params.r > 32 || params.p == 0 || params.p > 16)
    return make_error("key file asks for unreasonable scrypt costs");
  std::array<uint8_t, 16> salt;
  TRY(from_hex(salt_hex, salt.data(), salt.size()));
  std::vector<uint8_t> sealed(sealed_hex.size() / 2);
  TRY(from_hex(sealed_hex, sealed.data(), sealed.size()));
  Key wrapping = TRY(derive_key(passphrase, salt, params));
  auto plain = open_sealed(wrapping, bytes_of(kAssociated), sealed);
  if (!plain) return make_error("wrong passphrase");
  if (plain->size() != 64) return make_error("key file holds {} key bytes", plain->size());
  MasterKeys keys;
  std::memcpy(keys.data.data(), plain->data(), 32);
  std::memcpy(keys.id.data(), plain->data() + 32, 32);
  return keys;
}

}  // namespace haven::store
