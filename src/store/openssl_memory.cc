#include "store/openssl_memory.h"

#include <openssl/crypto.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace haven::store::openssl_memory {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// Before every block; 16 bytes keep the block as aligned as malloc's.
struct alignas(16) Header {
  size_t mapped;  // the mapping's length, 0 when the block came from malloc
  size_t bytes;   // what the caller asked for
};
static_assert(sizeof(Header) == 16);

std::atomic<uint64_t> g_large_mappings{0};

Header* header_of(void* block) {
  return static_cast<Header*>(block) - 1;
}

// A mapping that starts on a 2 MiB boundary (so every whole huge page of it can be one), with
// the header at its start.
void* map_large(size_t bytes) {
  if (bytes > SIZE_MAX - sizeof(Header) - 2 * kHugePage) return nullptr;
  const size_t length = (bytes + sizeof(Header) + kHugePage - 1) & ~(kHugePage - 1);
  // Over-map by one huge page, then give back what lies outside the aligned part.
  void* raw = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  if (aligned > start) ::munmap(raw, aligned - start);
  if (const uintptr_t end = start + length + kHugePage; end > aligned + length)
    ::munmap(reinterpret_cast<void*>(aligned + length), end - (aligned + length));
  auto* header = reinterpret_cast<Header*>(aligned);
  (void)::madvise(header, length, MADV_HUGEPAGE);  // only advice: fine where THP is off
  g_large_mappings.fetch_add(1, std::memory_order_relaxed);
  *header = {length, bytes};
  return header + 1;
}

void* allocate_small(size_t bytes) {
  auto* header = static_cast<Header*>(std::malloc(bytes + sizeof(Header)));
  if (!header) return nullptr;
  *header = {0, bytes};
  return header + 1;
}

}  // namespace

void* allocate(size_t bytes, const char*, int) {
  return bytes >= kLargeBytes ? map_large(bytes) : allocate_small(bytes);
}

void release(void* block, const char*, int) {
  if (!block) return;
  Header* header = header_of(block);
  if (header->mapped)
    ::munmap(header, header->mapped);
  else
    std::free(header);
}

void* reallocate(void* block, size_t bytes, const char* file, int line) {
  if (!block) return allocate(bytes, file, line);
  if (bytes == 0) {
    release(block, file, line);
    return nullptr;
  }
  Header* header = header_of(block);
  if (!header->mapped && bytes < kLargeBytes) {  // stays with malloc
    auto* moved = static_cast<Header*>(std::realloc(header, bytes + sizeof(Header)));
    if (!moved) return nullptr;
    moved->bytes = bytes;
    return moved + 1;
  }
  void* grown = allocate(bytes, file, line);
  if (!grown) return nullptr;  // the old block stays valid, as realloc's does
  std::memcpy(grown, block, std::min(bytes, header->bytes));
  release(block, file, line);
  return grown;
}

bool use_for_openssl() {
  return CRYPTO_set_mem_functions(allocate, reallocate, release) == 1;
}

void preinit(int, char**, char**) {
  use_for_openssl();
}

uint64_t large_mappings() {
  return g_large_mappings.load(std::memory_order_relaxed);
}

}  // namespace haven::store::openssl_memory
