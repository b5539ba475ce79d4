#pragma once

#include <asm/bootparam.h>

#include <cstdint>
#include <span>

#include "base/error.h"

namespace haven::arch::x86 {

// A bzImage as the Linux x86 boot protocol describes it: real-mode setup sectors with the
// setup header, then the protected-mode kernel. Views into the caller's bytes.
struct BzImage {
  setup_header header;              // as found in the file
  size_t header_length;             // bytes of it the image defines (0x1f1..end of header)
  std::span<const uint8_t> kernel;  // the protected-mode part, loaded at 1 MiB
};

inline constexpr uint16_t kMinBootProtocol = 0x020c;  // 2.12: xloadflags, 64-bit entry

// True when the bytes carry the "HdrS" setup-header magic at offset 0x202.
bool looks_like_bzimage(std::span<const uint8_t> file);

// Checks the image from untrusted bytes: magic, boot-sector flag, protocol >= 2.12, a 64-bit
// entry point, a loadable-high kernel and sizes consistent with the file.
Result<BzImage> parse_bzimage(std::span<const uint8_t> file);

}  // namespace haven::arch::x86
