#include "arch/x86/pvh.h"

#include <cstring>

namespace haven::arch::x86 {
namespace {

template <class T>
void append(std::vector<uint8_t>& blob, const T& value) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  blob.insert(blob.end(), bytes, bytes + sizeof(T));
}

}  // namespace

std::vector<uint8_t> build_pvh_start_info(std::span<const E820Entry> e820,
                                          const PvhInputs& inputs) {
  const bool has_initrd = inputs.initrd_size > 0;
  const uint64_t modlist = inputs.base_address + sizeof(HvmStartInfo);
  const uint64_t memmap = modlist + (has_initrd ? sizeof(HvmModlistEntry) : 0);

  HvmStartInfo info{};
  info.magic = kHvmStartMagic;
  info.version = 1;  // version 1 carries the memory map
  info.nr_modules = has_initrd ? 1 : 0;
  info.modlist_paddr = has_initrd ? modlist : 0;
  info.cmdline_paddr = inputs.cmdline_address;
  info.rsdp_paddr = inputs.acpi_rsdp_address;
  info.memmap_paddr = memmap;
  info.memmap_entries = static_cast<uint32_t>(e820.size());

  std::vector<uint8_t> blob;
  append(blob, info);
  if (has_initrd) append(blob, HvmModlistEntry{inputs.initrd_address, inputs.initrd_size, 0, 0});
  for (const E820Entry& entry : e820)
    append(blob, HvmMemmapEntry{entry.address, entry.size, static_cast<uint32_t>(entry.type), 0});
  return blob;
}

}  // namespace haven::arch::x86
