#pragma once

// Where OpenSSL's memory comes from. Unlocking an encrypted repository runs scrypt, whose
// buffer is 32 MiB (128 * r * N) touched in random order: on fresh 4 KiB pages that is 8192
// page faults (each a costly exit on a virtualized host such as these machines' PVM) and a TLB
// miss on most accesses. Large allocations made here are 2 MiB-aligned mappings advised for
// transparent huge pages instead; on this machine that took scrypt from 450 to 185 ms (under
// load; docs/PERFORMANCE.md). Everything else is plain malloc, so a library that mixes
// OpenSSL's free with the C library's (or the other way) still works.
//
// OpenSSL takes an allocator only before its first allocation, and a shared library may make
// one before main() (Debian's cpp-httplib initializes OpenSSL from a static constructor). An
// executable therefore installs it from its preinit array, which the dynamic loader runs
// before any library's initializer:
//   [[gnu::section(".preinit_array"), gnu::used]] static constexpr auto* kOpensslMemory =
//       &haven::store::openssl_memory::preinit;
// Where the kernel has transparent huge pages off, the advice is ignored and nothing else
// changes.

#include <cstddef>
#include <cstdint>

namespace haven::store::openssl_memory {

// Allocations of at least this many bytes get a mapping of their own (a realloc of a malloc
// block stays a malloc block).
inline constexpr size_t kLargeBytes = size_t{4} << 20;

// Installs the allocator below into OpenSSL; false when OpenSSL has allocated already (the
// process then keeps OpenSSL's default, which works, only slower).
bool use_for_openssl();
// use_for_openssl() with the signature of a preinit-array entry.
void preinit(int argc, char** argv, char** envp);

// The allocator, as OpenSSL calls it (malloc/realloc/free semantics: null on failure, free of
// null does nothing, realloc keeps the contents up to the smaller size).
void* allocate(size_t bytes, const char* file, int line);
void* reallocate(void* block, size_t bytes, const char* file, int line);
void release(void* block, const char* file, int line);

// Large mappings made since the process started (for tests and diagnostics).
uint64_t large_mappings();

}  // namespace haven::store::openssl_memory
