// Published test vectors for the primitives a repository's format rests on: if OpenSSL, a
// build flag or our wrappers ever computed something else, every repository written before
// would stop opening. Self-consistency (seal then open) cannot catch that; these can.
//   SHA-256:      FIPS 180-2, appendix B.1 and B.2.
//   HMAC-SHA-256: RFC 4231, test cases 1 to 4 (keys shorter than 32 bytes are padded with
//                 zeros, which HMAC does itself, so they fit our 32-byte Key unchanged).
//   scrypt:       RFC 7914, section 12 (the first 32 bytes of each 64-byte output: PBKDF2's
//                 first block does not depend on the length asked for).
//   AES-256-GCM:  the GCM specification's test cases 13, 14, 15 and 16 (McGrew and Viega), as
//                 NIST's GCM validation uses them; sealed data is nonce || ciphertext || tag.

#include <gtest/gtest.h>

#include <string>

#include "base/hex.h"
#include "store/crypto.h"

namespace haven::store {
namespace {

std::vector<uint8_t> unhex(std::string_view text) {
  std::vector<uint8_t> out(text.size() / 2);
  EXPECT_TRUE(from_hex(text, out.data(), out.size())) << text;
  return out;
}

std::string hex(std::span<const uint8_t> data) {
  return to_hex(data.data(), data.size());
}

std::vector<uint8_t> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

std::vector<uint8_t> repeated(uint8_t value, size_t count) {
  return std::vector<uint8_t>(count, value);
}

// A key of up to 32 bytes, zero-padded.
Key key_of(const std::vector<uint8_t>& bytes) {
  Key key{};
  EXPECT_LE(bytes.size(), key.size());
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

TEST(CryptoVectors, Sha256MatchesFips180) {
  EXPECT_EQ(sha256(bytes("abc")).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256(bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256({}).hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(CryptoVectors, HmacSha256MatchesRfc4231) {
  struct Case {
    std::vector<uint8_t> key, data;
    const char* mac;
  };
  std::vector<uint8_t> key4;
  for (uint8_t byte = 1; byte <= 25; ++byte) key4.push_back(byte);
  const Case cases[] = {
      {repeated(0x0b, 20), bytes("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {bytes("Jefe"), bytes("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {repeated(0xaa, 20), repeated(0xdd, 50),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {key4, repeated(0xcd, 50),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
  };
  int number = 1;
  for (const auto& test : cases) {
    Key key = key_of(test.key);
    EXPECT_EQ(hmac_sha256(key, test.data).hex(), test.mac) << "RFC 4231 case " << number;
    // The many-piece form, split at every third byte, gives the same.
    std::span<const uint8_t> data = test.data;
    auto pieces = hmac_sha256(key, {data.first(3), data.subspan(3, 0), data.subspan(3)});
    ASSERT_TRUE(pieces) << pieces.error().message();
    EXPECT_EQ(pieces->hex(), test.mac) << "RFC 4231 case " << number << ", in pieces";
    ++number;
  }
}

TEST(CryptoVectors, ScryptMatchesRfc7914) {
  struct Case {
    const char* passphrase;
    const char* salt;
    KdfParams params;
    const char* key;
  };
  const Case cases[] = {
      {"", "", {16, 1, 1}, "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"},
      {"password",
       "NaCl",
       {1024, 8, 16},
       "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"},
      {"pleaseletmein",
       "SodiumChloride",
       {16384, 8, 1},
       "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"},
  };
  for (const auto& test : cases) {
    auto key = derive_key(test.passphrase, bytes(test.salt), test.params);
    ASSERT_TRUE(key) << key.error().message();
    EXPECT_EQ(hex(*key), test.key) << "passphrase '" << test.passphrase << "'";
  }
}

TEST(CryptoVectors, Aes256GcmOpensTheGcmSpecificationsCases) {
  struct Case {
    const char *key, *nonce, *plain, *associated, *cipher, *tag;
  };
  const char* k16 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
  const char* p15 =
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
  const Case cases[] = {
      // Test case 13: zero key, empty message.
      {"0000000000000000000000000000000000000000000000000000000000000000",
       "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
      // Test case 14: zero key, one zero block.
      {"0000000000000000000000000000000000000000000000000000000000000000",
       "000000000000000000000000", "00000000000000000000000000000000", "",
       "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
      // Test case 15: four blocks, no associated data.
      {k16, "cafebabefacedbaddecaf888", p15, "",
       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
       "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
       "b094dac5d93471bdec1a502270e3cc6c"},
      // Test case 16: a partial last block and associated data.
      {k16, "cafebabefacedbaddecaf888",
       "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
       "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
       "feedfacedeadbeeffeedfacedeadbeefabaddad2",
       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
       "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
       "76fc6ece0f4e1768cddf8853bb2d551b"},
  };
  int number = 13;
  for (const auto& test : cases) {
    Key key = key_of(unhex(test.key));
    std::vector<uint8_t> sealed = unhex(test.nonce);
    for (const char* part : {test.cipher, test.tag}) {
      auto part_bytes = unhex(part);
      sealed.insert(sealed.end(), part_bytes.begin(), part_bytes.end());
    }
    auto associated = unhex(test.associated);
    auto plain = open_sealed(key, associated, sealed);
    ASSERT_TRUE(plain) << "GCM test case " << number << ": " << plain.error().message();
    EXPECT_EQ(hex(*plain), test.plain) << "GCM test case " << number;
    // The same bytes with the tag's last bit flipped are refused, not opened differently.
    sealed.back() ^= 1;
    EXPECT_FALSE(open_sealed(key, associated, sealed)) << "GCM test case " << number;
    ++number;
  }
}

}  // namespace
}  // namespace haven::store
