#include "store/crypto.h"

#include <gtest/gtest.h>

#include <string>

namespace haven::store {
namespace {

std::vector<uint8_t> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

TEST(ChunkId, HexRoundTripsAndRejectsNonHex) {
  ChunkId id = sha256(bytes("abc"));
  EXPECT_EQ(id.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ChunkId::from_hex(id.hex()).value(), id);
  EXPECT_FALSE(ChunkId::from_hex("ba78"));
  EXPECT_FALSE(ChunkId::from_hex(std::string(64, 'g')));
}

TEST(Crypto, HmacDependsOnTheKey) {
  Key a{}, b{};
  b[0] = 1;
  EXPECT_NE(hmac_sha256(a, bytes("data")), hmac_sha256(b, bytes("data")));
  EXPECT_EQ(hmac_sha256(a, bytes("data")), hmac_sha256(a, bytes("data")));
  EXPECT_NE(hmac_sha256(a, bytes("data")), sha256(bytes("data")));
}

TEST(Crypto, SealedDataOpensOnlyWithTheKeyAndAssociatedData) {
  Key key{};
  ASSERT_TRUE(random_bytes(key));
  std::vector<uint8_t> sealed;
  ASSERT_TRUE(seal(key, bytes("place"), bytes("secret message"), sealed));
  EXPECT_EQ(sealed.size(), 14 + kSealOverhead);
  EXPECT_EQ(open_sealed(key, bytes("place"), sealed).value(), bytes("secret message"));

  Key wrong = key;
  wrong[5] ^= 1;
  auto with_wrong_key = open_sealed(wrong, bytes("place"), sealed);
  ASSERT_FALSE(with_wrong_key);
  EXPECT_NE(with_wrong_key.error().message().find("authentication failed"), std::string::npos);
  EXPECT_FALSE(open_sealed(key, bytes("elsewhere"), sealed)) << "moved to another place";
  for (size_t i : {size_t{0}, size_t{13}, sealed.size() - 1}) {
    auto tampered = sealed;
    tampered[i] ^= 0x40;
    EXPECT_FALSE(open_sealed(key, bytes("place"), tampered)) << "byte " << i;
  }
  EXPECT_FALSE(open_sealed(key, bytes("place"), std::span(sealed).first(10))) << "truncated";
}

TEST(Crypto, TwoSealsOfTheSameDataDiffer) {
  Key key{};
  std::vector<uint8_t> first, second;
  ASSERT_TRUE(seal(key, {}, bytes("same"), first));
  ASSERT_TRUE(seal(key, {}, bytes("same"), second));
  EXPECT_NE(first, second) << "a fresh nonce each time";
}

TEST(Crypto, DerivedKeysDependOnPassphraseAndSalt) {
  KdfParams cheap{1024, 8, 1};
  std::array<uint8_t, 16> salt{};
  auto a = derive_key("correct horse", salt, cheap).value();
  EXPECT_EQ(a, derive_key("correct horse", salt, cheap).value());
  EXPECT_NE(a, derive_key("correct horsf", salt, cheap).value());
  salt[0] = 1;
  EXPECT_NE(a, derive_key("correct horse", salt, cheap).value());
}

}  // namespace
}  // namespace haven::store
