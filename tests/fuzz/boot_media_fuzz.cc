// Fuzzes boot media inspection with arbitrary bytes as a disk or ISO image, read with 512-,
// 2048- and 4096-byte sectors. It must never ask for bytes past the medium's end (the reader
// aborts), fail only when a read fails (none does here), and what it reports must agree with
// itself: one line, problems exactly where a firmware cannot boot.
#include <cstdlib>
#include <cstring>

#include "firmware/boot_media.h"

using namespace haven::firmware;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ReadAt read = [data, size](uint64_t offset, std::span<uint8_t> out) -> haven::Result<void> {
    if (offset > size || out.size() > size - offset) std::abort();
    if (!out.empty()) std::memcpy(out.data(), data + offset, out.size());
    return {};
  };
  for (uint32_t sector_size : {512u, 2048u, 4096u}) {
    auto media = inspect_boot_media(read, size, sector_size);
    if (!media) std::abort();
    if (media->description.empty() || media->description.find('\n') != std::string::npos)
      std::abort();
    if (media->bios_bootable != media->bios_problems.empty()) std::abort();
    if (media->uefi_bootable != media->uefi_problems.empty()) std::abort();
    if (why_not_bootable(*media, "bios").empty() != media->bios_bootable) std::abort();
    if (why_not_bootable(*media, "uefi").empty() != media->uefi_bootable) std::abort();
  }
  return 0;
}
