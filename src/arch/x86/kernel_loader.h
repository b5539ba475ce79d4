#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "arch/x86/cpu_state.h"
#include "base/error.h"
#include "memory/guest_memory.h"

namespace haven::arch::x86 {

struct KernelImages {
  std::span<const uint8_t> kernel;  // a bzImage, or an ELF vmlinux with a PVH note
  std::optional<std::span<const uint8_t>> initrd;
  std::string cmdline;
  uint64_t acpi_rsdp_address = 0;
};

// Copies the kernel, command line and initrd into guest memory, writes the boot structures the
// kernel's format needs (zero page and page tables, or PVH start info) and the GDT, and returns
// the boot vCPU's entry state. The format is recognised from the bytes.
Result<EntryState> load_kernel(const memory::GuestMemory& memory, const KernelImages& images);

}  // namespace haven::arch::x86
