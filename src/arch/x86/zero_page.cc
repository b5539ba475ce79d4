#include "arch/x86/zero_page.h"

#include <cstring>

namespace haven::arch::x86 {
namespace {

constexpr uint8_t kLoaderTypeUndefined = 0xff;  // "not one of the registered boot loaders"

}  // namespace

Result<boot_params> build_zero_page(const BzImage& image, std::span<const E820Entry> e820,
                                    const ZeroPageInputs& inputs) {
  if (e820.size() > E820_MAX_ENTRIES_ZEROPAGE)
    return make_error("{} memory map entries exceed the zero page's {}", e820.size(),
                      E820_MAX_ENTRIES_ZEROPAGE);
  boot_params params{};
  std::memcpy(&params.hdr, &image.header, image.header_length);
  params.hdr.type_of_loader = kLoaderTypeUndefined;
  params.hdr.cmd_line_ptr = static_cast<uint32_t>(inputs.cmdline_address);
  params.ext_cmd_line_ptr = static_cast<uint32_t>(inputs.cmdline_address >> 32);
  params.hdr.ramdisk_image = static_cast<uint32_t>(inputs.initrd_address);
  params.ext_ramdisk_image = static_cast<uint32_t>(inputs.initrd_address >> 32);
  params.hdr.ramdisk_size = static_cast<uint32_t>(inputs.initrd_size);
  params.ext_ramdisk_size = static_cast<uint32_t>(inputs.initrd_size >> 32);
  params.acpi_rsdp_addr = inputs.acpi_rsdp_address;
  for (size_t i = 0; i < e820.size(); ++i) {
    params.e820_table[i].addr = e820[i].address;
    params.e820_table[i].size = e820[i].size;
    params.e820_table[i].type = static_cast<uint32_t>(e820[i].type);
  }
  params.e820_entries = static_cast<uint8_t>(e820.size());
  return params;
}

}  // namespace haven::arch::x86
