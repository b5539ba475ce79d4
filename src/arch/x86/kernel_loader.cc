#include "arch/x86/kernel_loader.h"

#include <algorithm>
#include <vector>

#include "arch/x86/bzimage.h"
#include "arch/x86/e820.h"
#include "arch/x86/elf_kernel.h"
#include "arch/x86/layout.h"
#include "arch/x86/page_tables.h"
#include "arch/x86/pvh.h"
#include "arch/x86/zero_page.h"
#include "base/units.h"

namespace haven::arch::x86 {
namespace {

using memory::GuestAddr;
using memory::GuestMemory;

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t k64BitEntryOffset = 0x200;  // from the protected-mode load address

std::vector<memory::RegionSpec> region_specs(const GuestMemory& memory) {
  std::vector<memory::RegionSpec> specs;
  for (const auto& region : memory.regions()) specs.push_back({region.start, region.size()});
  return specs;
}

uint64_t low_memory_end(const GuestMemory& memory) {
  const auto& first = memory.regions().front();
  return first.start.value() == 0 ? first.size() : 0;
}

Result<void> write_cmdline(const GuestMemory& memory, const std::string& cmdline,
                           uint64_t max_length) {
  if (cmdline.find('\0') != std::string::npos)
    return make_error("kernel command line contains a NUL byte");
  if (cmdline.size() > max_length)
    return make_error("kernel command line is {} bytes; this kernel accepts at most {}",
                      cmdline.size(), max_length);
  std::vector<uint8_t> bytes(cmdline.begin(), cmdline.end());
  bytes.push_back(0);
  return memory.write_bytes(GuestAddr(kCmdlineAddress), bytes);
}

// Puts the initrd as high as allowed in low memory, page-aligned, above `lowest`.
Result<uint64_t> place_initrd(const GuestMemory& memory, std::span<const uint8_t> initrd,
                              uint64_t lowest, uint64_t highest_end) {
  uint64_t top = std::min(low_memory_end(memory), highest_end);
  if (initrd.size() > top || (top - initrd.size()) / kPageSize * kPageSize < lowest)
    return make_error(
        "the initrd ({}) does not fit in guest memory above the kernel; give the "
        "guest more memory",
        format_size(initrd.size() / kPageSize * kPageSize + kPageSize));
  uint64_t address = (top - initrd.size()) / kPageSize * kPageSize;
  TRY(memory.write_bytes(GuestAddr(address), initrd));
  return address;
}

Result<EntryState> load_bzimage(const GuestMemory& memory, const KernelImages& images) {
  BzImage image = TRY(parse_bzimage(images.kernel));
  const setup_header& hdr = image.header;

  // The kernel decompresses itself to where it will run, which may be its preferred address
  // rather than where it was loaded; it needs init_size bytes there.
  uint64_t run_address = std::max<uint64_t>(kKernelLoadAddress, hdr.pref_address);
  uint64_t kernel_end = run_address + hdr.init_size;
  if (kernel_end < run_address)  // a hostile pref_address must not wrap the check below
    return make_error("the kernel's preferred address {:#x} is not in guest memory",
                      uint64_t{hdr.pref_address});  // a copy: packed field
  if (kernel_end > low_memory_end(memory))
    return make_error("guest memory is too small for this kernel: it needs {} below {:#x}",
                      format_size((kernel_end + MiB - 1) / MiB * MiB), kPciHoleStart);
  TRY(memory.write_bytes(GuestAddr(kKernelLoadAddress), image.kernel));
  TRY(write_cmdline(memory, images.cmdline,
                    std::min<uint64_t>(hdr.cmdline_size, kCmdlineMaxSize - 1)));

  uint64_t initrd_address = 0, initrd_size = 0;
  if (images.initrd) {
    uint64_t limit = uint64_t{hdr.initrd_addr_max} + 1;
    initrd_address = TRY(place_initrd(memory, *images.initrd, kernel_end, limit));
    initrd_size = images.initrd->size();
  }

  auto e820 = build_e820(region_specs(memory));
  boot_params params = TRY(build_zero_page(
      image, e820, {kCmdlineAddress, initrd_address, initrd_size, images.acpi_rsdp_address}));
  TRY(memory.write(GuestAddr(kZeroPageAddress), params));
  uint64_t cr3 = TRY(write_identity_page_tables(memory));
  TRY(write_gdt(memory, EntryMode::long_mode));
  return EntryState{EntryMode::long_mode, kKernelLoadAddress + k64BitEntryOffset, kZeroPageAddress,
                    cr3};
}

Result<EntryState> load_pvh(const GuestMemory& memory, const KernelImages& images) {
  ElfKernel kernel = TRY(parse_elf_kernel(images.kernel));
  if (!kernel.pvh_entry)
    return make_error(
        "this ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): build "
        "it with CONFIG_PVH=y, or boot its bzImage instead");
  uint64_t kernel_end = 0;
  for (const ElfSegment& segment : kernel.segments) {
    if (segment.guest_address < kHighMemoryAddress)
      return make_error("ELF segment at {:#x} would overwrite the boot structures below 1 MiB",
                        segment.guest_address);
    auto target = TRY(with_context(
        memory.span(GuestAddr(segment.guest_address), segment.memory_size),
        "ELF segment of {} at {:#x}", format_size(segment.memory_size), segment.guest_address));
    std::copy(segment.bytes.begin(), segment.bytes.end(), target.begin());
    std::fill(target.begin() + static_cast<ptrdiff_t>(segment.bytes.size()), target.end(), 0);
    kernel_end = std::max(kernel_end, segment.guest_address + segment.memory_size);
  }
  TRY(write_cmdline(memory, images.cmdline, kCmdlineMaxSize - 1));

  uint64_t initrd_address = 0, initrd_size = 0;
  if (images.initrd) {
    initrd_address = TRY(place_initrd(memory, *images.initrd, kernel_end, kPciHoleStart));
    initrd_size = images.initrd->size();
  }
  auto e820 = build_e820(region_specs(memory));
  auto start_info =
      build_pvh_start_info(e820, {kPvhStartInfoAddress, kCmdlineAddress, initrd_address,
                                  initrd_size, images.acpi_rsdp_address});
  if (start_info.size() > kPvhStartInfoEnd - kPvhStartInfoAddress)
    return make_error("PVH start info of {} bytes does not fit its page", start_info.size());
  TRY(memory.write_bytes(GuestAddr(kPvhStartInfoAddress), start_info));
  TRY(write_gdt(memory, EntryMode::protected_mode));
  return EntryState{EntryMode::protected_mode, *kernel.pvh_entry, kPvhStartInfoAddress, 0};
}

}  // namespace

Result<EntryState> load_kernel(const GuestMemory& memory, const KernelImages& images) {
  if (memory.regions().empty() || low_memory_end(memory) < kHighMemoryAddress)
    return make_error("guest memory must start at 0 and cover the first megabyte");
  if (looks_like_elf(images.kernel)) return with_context(load_pvh(memory, images), "PVH boot");
  if (looks_like_bzimage(images.kernel))
    return with_context(load_bzimage(memory, images), "bzImage boot");
  return make_error("not a bzImage (no \"HdrS\" header) nor an ELF vmlinux (no ELF magic)");
}

}  // namespace haven::arch::x86
