#include "arch/x86/page_tables.h"

#include <array>

#include "arch/x86/layout.h"

namespace haven::arch::x86 {
namespace {

constexpr uint64_t kPresent = 1 << 0;
constexpr uint64_t kWritable = 1 << 1;
constexpr uint64_t kLargePage = 1 << 7;
constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kLargePageSize = 2 << 20;
constexpr uint64_t kEntriesPerTable = 512;

}  // namespace

Result<uint64_t> write_identity_page_tables(const memory::GuestMemory& memory) {
  constexpr uint64_t kDirectories = kIdentityMappedBytes / (kEntriesPerTable * kLargePageSize);
  const uint64_t pml4 = kPageTablesAddress;
  const uint64_t pdpt = pml4 + kPageSize;
  const uint64_t first_pd = pdpt + kPageSize;

  std::array<uint64_t, kEntriesPerTable> table{};
  table[0] = pdpt | kPresent | kWritable;
  TRY(memory.write(memory::GuestAddr(pml4), table));

  table = {};
  for (uint64_t i = 0; i < kDirectories; ++i)
    table[i] = (first_pd + i * kPageSize) | kPresent | kWritable;
  TRY(memory.write(memory::GuestAddr(pdpt), table));

  for (uint64_t d = 0; d < kDirectories; ++d) {
    for (uint64_t i = 0; i < kEntriesPerTable; ++i)
      table[i] = ((d * kEntriesPerTable + i) * kLargePageSize) | kPresent | kWritable | kLargePage;
    TRY(memory.write(memory::GuestAddr(first_pd + d * kPageSize), table));
  }
  return pml4;
}

}  // namespace haven::arch::x86
