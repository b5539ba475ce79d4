#include "store/openssl_memory.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "store/crypto.h"

namespace haven::store {
namespace {

namespace om = openssl_memory;

void fill(void* block, size_t bytes, uint8_t seed) {
  auto* p = static_cast<uint8_t*>(block);
  for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(seed + i * 7);
}

bool holds(const void* block, size_t bytes, uint8_t seed) {
  const auto* p = static_cast<const uint8_t*>(block);
  for (size_t i = 0; i < bytes; ++i)
    if (p[i] != static_cast<uint8_t>(seed + i * 7)) return false;
  return true;
}

TEST(OpensslMemoryTest, SmallBlocksArePlainMallocBlocks) {
  void* block = om::allocate(100, __FILE__, __LINE__);
  ASSERT_NE(block, nullptr);
  fill(block, 100, 3);
  block = om::reallocate(block, 5000, __FILE__, __LINE__);
  ASSERT_NE(block, nullptr);
  EXPECT_TRUE(holds(block, 100, 3));
  std::free(block);  // a library that frees OpenSSL's memory with free() keeps working
  void* from_malloc = std::malloc(64);
  ASSERT_NE(from_malloc, nullptr);
  om::release(from_malloc, __FILE__, __LINE__);  // and the other way round
  om::release(nullptr, __FILE__, __LINE__);      // does nothing
}

TEST(OpensslMemoryTest, LargeBlocksAreMappingsOnA2MiBBoundary) {
  const uint64_t before = om::large_mappings();
  const size_t bytes = om::kLargeBytes + 12345;
  void* block = om::allocate(bytes, __FILE__, __LINE__);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(om::large_mappings(), before + 1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % (2u << 20), 0u);
  fill(block, bytes, 9);  // all of it is writable
  EXPECT_TRUE(holds(block, bytes, 9));
  void* small = om::allocate(64, __FILE__, __LINE__);  // freed while a large one lives
  om::release(small, __FILE__, __LINE__);
  om::release(block, __FILE__, __LINE__);
}

TEST(OpensslMemoryTest, ReallocOfALargeBlockKeepsTheBytes) {
  const uint64_t before = om::large_mappings();
  void* block = om::allocate(om::kLargeBytes * 2, __FILE__, __LINE__);
  ASSERT_NE(block, nullptr);
  fill(block, om::kLargeBytes * 2, 5);
  block = om::reallocate(block, om::kLargeBytes * 3, __FILE__, __LINE__);  // a larger mapping
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(om::large_mappings(), before + 2);
  EXPECT_TRUE(holds(block, om::kLargeBytes * 2, 5));
  block = om::reallocate(block, 64, __FILE__, __LINE__);  // now a malloc block
  ASSERT_NE(block, nullptr);
  EXPECT_TRUE(holds(block, 64, 5));
  std::free(block);
  block = om::allocate(om::kLargeBytes, __FILE__, __LINE__);
  EXPECT_EQ(om::reallocate(block, 0, __FILE__, __LINE__), nullptr);  // frees it
  block = om::reallocate(nullptr, 32, __FILE__, __LINE__);           // allocates
  ASSERT_NE(block, nullptr);
  om::release(block, __FILE__, __LINE__);
}

// ctest runs every test in a process of its own, where this one comes first to OpenSSL.
TEST(OpensslMemoryTest, ScryptRunsOnALargeMappingOnceInstalled) {
  if (!om::use_for_openssl())
    GTEST_SKIP() << "OpenSSL allocated before this test (run it alone, as ctest does)";
  const uint64_t before = om::large_mappings();
  // RFC 7914's third scrypt test vector (N = 16384, r = 8, p = 1: a 16 MiB buffer).
  const char salt[] = "SodiumChloride";
  std::vector<uint8_t> out(64);
  ASSERT_EQ(EVP_PBE_scrypt("pleaseletmein", 13, reinterpret_cast<const unsigned char*>(salt), 14,
                           16384, 8, 1, 64u << 20, out.data(), out.size()),
            1);
  const uint8_t expected[8] = {0x70, 0x23, 0xbd, 0xcb, 0x3a, 0xfd, 0x73, 0x48};
  EXPECT_EQ(std::memcmp(out.data(), expected, sizeof(expected)), 0);
  EXPECT_GT(om::large_mappings(), before);
  // The rest of OpenSSL works on the small blocks.
  Key key{};
  std::vector<uint8_t> sealed;
  const std::vector<uint8_t> plain = {1, 2, 3};
  ASSERT_TRUE(seal(key, {}, plain, sealed).has_value());
  EXPECT_EQ(open_sealed(key, {}, sealed).value(), plain);
}

}  // namespace
}  // namespace haven::store
