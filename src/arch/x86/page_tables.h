#pragma once

#include <cstdint>

#include "base/error.h"
#include "memory/guest_memory.h"

namespace haven::arch::x86 {

// How much the boot page tables identity-map: the whole 32-bit space, so the kernel, its
// decompression buffer, the zero page, command line and initrd are all reachable.
inline constexpr uint64_t kIdentityMappedBytes = 4ull << 30;

// Writes a PML4, one PDPT and four page directories of 2 MiB pages at kPageTablesAddress;
// returns the value for CR3.
Result<uint64_t> write_identity_page_tables(const memory::GuestMemory& memory);

}  // namespace haven::arch::x86
