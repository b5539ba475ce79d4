// Fuzzes the bzImage setup-header parser with arbitrary bytes: it must never read out of bounds,
// and what it accepts must be self-consistent.
#include <cstdlib>

#include "arch/x86/bzimage.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> file(data, size);
  auto image = haven::arch::x86::parse_bzimage(file);
  if (image) {
    // The kernel view must lie inside the file.
    if (image->kernel.data() < data || image->kernel.data() + image->kernel.size() > data + size)
      std::abort();
    if (image->header_length > sizeof(setup_header)) std::abort();
  }
  return 0;
}
