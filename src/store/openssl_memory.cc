#include "store/openssl_memory.h"

#include <openssl/crypto.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "base/mutex.h"

namespace haven::store::openssl_memory {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// The large blocks alive now. Small blocks are plain malloc blocks, so a library that frees
// OpenSSL's memory with free() (or hands malloc's to OpenSSL) keeps working; only release()
// of a block found here unmaps. Few are ever alive at once (one per running scrypt).
struct Large {
  void* block = nullptr;
  size_t length = 0;  // the mapping's
  size_t bytes = 0;   // what the caller asked for
};
constexpr size_t kMaxLarge = 32;

// constinit: ready before any library's initializer can allocate.
constinit Mutex g_mutex;
constinit std::array<Large, kMaxLarge> g_large HAVEN_GUARDED_BY(g_mutex);
constinit std::atomic<unsigned> g_live{0};  // entries in g_large: while 0, release() takes no lock
constinit std::atomic<uint64_t> g_large_mappings{0};

// A mapping that starts on a 2 MiB boundary, so each whole 2 MiB of it can be one huge page;
// null when there is no room (the caller falls back to malloc).
void* map_large(size_t bytes) {
  if (bytes > SIZE_MAX - 2 * kHugePage) return nullptr;
  const size_t length = (bytes + kHugePage - 1) & ~(kHugePage - 1);
  // Over-map by one huge page, then give back what lies outside the aligned part.
  void* raw = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  if (aligned > start) ::munmap(raw, aligned - start);
  if (const uintptr_t end = start + length + kHugePage; end > aligned + length)
    ::munmap(reinterpret_cast<void*>(aligned + length), end - (aligned + length));
  auto* block = reinterpret_cast<void*>(aligned);
  {
    MutexLock lock(g_mutex);
    auto free_entry = std::ranges::find(g_large, nullptr, &Large::block);
    if (free_entry == g_large.end()) {
      ::munmap(block, length);
      return nullptr;
    }
    *free_entry = {block, length, bytes};
    g_live.fetch_add(1, std::memory_order_release);
  }
  (void)::madvise(block, length, MADV_HUGEPAGE);  // only advice: fine where THP is off
  g_large_mappings.fetch_add(1, std::memory_order_relaxed);
  return block;
}

// `block`'s entry among the large ones, taken out of the table when `take`; nullopt when it
// is a malloc block.
std::optional<Large> find_large(void* block, bool take) {
  if (g_live.load(std::memory_order_acquire) == 0) return std::nullopt;
  MutexLock lock(g_mutex);
  auto entry = std::ranges::find(g_large, block, &Large::block);
  if (entry == g_large.end()) return std::nullopt;
  Large found = *entry;
  if (take) {
    *entry = {};
    g_live.fetch_sub(1, std::memory_order_relaxed);
  }
  return found;
}

}  // namespace

void* allocate(size_t bytes, const char*, int) {
  if (bytes >= kLargeBytes)
    if (void* block = map_large(bytes)) return block;
  return std::malloc(bytes);
}

void release(void* block, const char*, int) {
  if (!block) return;
  if (auto large = find_large(block, true))
    ::munmap(large->block, large->length);
  else
    std::free(block);
}

void* reallocate(void* block, size_t bytes, const char* file, int line) {
  if (!block) return allocate(bytes, file, line);
  auto large = find_large(block, false);
  if (!large) return std::realloc(block, bytes);  // a malloc block stays one
  if (bytes == 0) {
    release(block, file, line);
    return nullptr;
  }
  void* moved = allocate(bytes, file, line);
  if (!moved) return nullptr;  // the old block stays valid, as realloc's does
  std::memcpy(moved, block, std::min(bytes, large->bytes));
  release(block, file, line);
  return moved;
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
