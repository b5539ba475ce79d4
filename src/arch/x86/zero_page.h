#pragma once

#include <asm/bootparam.h>

#include <cstdint>
#include <span>

#include "arch/x86/bzimage.h"
#include "arch/x86/e820.h"
#include "base/error.h"

namespace haven::arch::x86 {

struct ZeroPageInputs {
  uint64_t cmdline_address;
  uint64_t initrd_address;  // 0 with no initrd
  uint64_t initrd_size;
  uint64_t acpi_rsdp_address;
};

// The boot_params ("zero page") handed to a bzImage's 64-bit entry: the image's own setup
// header with the loader's fields filled in, and the e820 map.
Result<boot_params> build_zero_page(const BzImage& image, std::span<const E820Entry> e820,
                                    const ZeroPageInputs& inputs);

}  // namespace haven::arch::x86
