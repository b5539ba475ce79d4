// Fuzzes the whole kernel loader (format detection, bzImage or PVH, command line, initrd,
// zero page / start info) into a small guest memory: hostile images must fail cleanly, never
// write outside guest memory (ASan would catch a host-side overflow).
#include "arch/x86/kernel_loader.h"
#include "base/units.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto memory = [] {
    haven::memory::RegionSpec spec{haven::memory::GuestAddr(0), 32 * haven::MiB};
    return std::move(*haven::memory::GuestMemory::create(std::span(&spec, 1)));
  }();
  std::span<const uint8_t> input(data, size);
  // The first byte, if any, picks an initrd size (up to 1 MiB) so placement is fuzzed too.
  size_t initrd_size = size > 1 ? size_t{data[0]} * 4096 : 0;
  std::vector<uint8_t> initrd(initrd_size, 0x5a);
  haven::arch::x86::KernelImages images{input, std::span<const uint8_t>(initrd), "console=ttyS0",
                                        0xe0000};
  if (initrd_size == 0) images.initrd.reset();
  (void)haven::arch::x86::load_kernel(memory, images);
  return 0;
}
