// Fuzzes the ELF vmlinux / PVH note parser: no out-of-bounds reads, and every accepted segment
// lies inside the file and does not wrap the guest address space.
#include <cstdlib>

#include "arch/x86/elf_kernel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto kernel = haven::arch::x86::parse_elf_kernel(std::span<const uint8_t>(data, size));
  if (!kernel) return 0;
  for (const auto& segment : kernel->segments) {
    if (segment.bytes.data() < data || segment.bytes.data() + segment.bytes.size() > data + size)
      std::abort();
    if (segment.memory_size < segment.bytes.size()) std::abort();
    if (segment.guest_address + segment.memory_size < segment.guest_address) std::abort();
  }
  return 0;
}
