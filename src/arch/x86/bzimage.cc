#include "arch/x86/bzimage.h"

#include <algorithm>
#include <cstring>

namespace haven::arch::x86 {
namespace {

constexpr size_t kHeaderOffset = 0x1f1;
constexpr size_t kMagicOffset = 0x202;
constexpr uint32_t kHeaderMagic = 0x53726448;  // "HdrS"
constexpr uint16_t kBootFlag = 0xaa55;
constexpr size_t kSectorSize = 512;

uint32_t read_u32(std::span<const uint8_t> bytes, size_t offset) {
  uint32_t value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return value;
}

}  // namespace

bool looks_like_bzimage(std::span<const uint8_t> file) {
  return file.size() >= kMagicOffset + 4 && read_u32(file, kMagicOffset) == kHeaderMagic;
}

Result<BzImage> parse_bzimage(std::span<const uint8_t> file) {
  if (file.size() < kHeaderOffset + sizeof(setup_header))
    return make_error("bzImage: {} bytes is too short for a setup header", file.size());
  if (!looks_like_bzimage(file)) return make_error("bzImage: no \"HdrS\" setup header magic");

  BzImage image{};
  std::memcpy(&image.header, file.data() + kHeaderOffset, sizeof(setup_header));
  const setup_header& hdr = image.header;
  if (hdr.boot_flag != kBootFlag)
    return make_error("bzImage: boot sector flag is {:#06x}, not 0xaa55",
                      uint16_t{hdr.boot_flag});  // a copy: the packed field may be misaligned
  if (hdr.version < kMinBootProtocol)
    return make_error("bzImage: boot protocol {}.{:02} is older than the 2.12 Haven needs",
                      hdr.version >> 8, hdr.version & 0xff);
  if (!(hdr.xloadflags & XLF_KERNEL_64))
    return make_error("bzImage: the kernel has no 64-bit entry point (not an x86-64 kernel?)");
  if (!(hdr.loadflags & LOADED_HIGH))
    return make_error("bzImage: a zImage that loads low is not supported");

  // The header's own length: it runs to 0x202 + the jump offset byte at 0x201.
  size_t header_end = kMagicOffset + file[0x201];
  image.header_length = std::min(header_end, kHeaderOffset + sizeof(setup_header)) - kHeaderOffset;

  size_t setup_sectors = hdr.setup_sects == 0 ? 4 : hdr.setup_sects;
  size_t setup_size = (setup_sectors + 1) * kSectorSize;
  if (setup_size >= file.size())
    return make_error("bzImage: {} setup sectors leave no kernel in a {}-byte file", setup_sectors,
                      file.size());
  image.kernel = file.subspan(setup_size);
  // syssize counts 16-byte paragraphs of the protected-mode part.
  uint64_t declared = static_cast<uint64_t>(hdr.syssize) * 16;
  if (declared > image.kernel.size())
    return make_error("bzImage: header declares {} kernel bytes, file holds {} (truncated?)",
                      declared, image.kernel.size());
  if (hdr.init_size < image.kernel.size())
    return make_error("bzImage: init_size {} is smaller than the kernel itself ({} bytes)",
                      uint32_t{hdr.init_size}, image.kernel.size());
  return image;
}

}  // namespace haven::arch::x86
