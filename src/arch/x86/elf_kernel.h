#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/error.h"

namespace haven::arch::x86 {

struct ElfSegment {
  uint64_t guest_address;          // p_paddr: where it must be in guest-physical memory
  std::span<const uint8_t> bytes;  // file contents
  uint64_t memory_size;            // >= bytes.size(); the rest is zero
};

// An uncompressed x86-64 ELF kernel (vmlinux) booted through PVH.
struct ElfKernel {
  std::vector<ElfSegment> segments;
  std::optional<uint32_t> pvh_entry;  // from the XEN_ELFNOTE_PHYS32_ENTRY note
};

bool looks_like_elf(std::span<const uint8_t> file);

// Parses untrusted bytes: every header, segment and note is checked against the file size.
Result<ElfKernel> parse_elf_kernel(std::span<const uint8_t> file);

}  // namespace haven::arch::x86
