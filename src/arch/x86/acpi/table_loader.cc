#include "arch/x86/acpi/table_loader.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <tuple>

namespace haven::arch::x86::acpi {
namespace {

// Commands and zones (QEMU hw/acpi/bios-linker-loader.c; the same numbers in SeaBIOS's
// src/fw/romfile_loader.h and edk2's OvmfPkg/Include/IndustryStandard/QemuLoader.h).
constexpr uint32_t kAllocate = 1;
constexpr uint32_t kAddPointer = 2;
constexpr uint32_t kAddChecksum = 3;
constexpr uint8_t kZoneHigh = 1;
constexpr uint8_t kZoneFseg = 2;
constexpr size_t kFileNameSize = 56;
constexpr uint32_t kTablesAlignment = 64;
constexpr uint32_t kRsdpAlignment = 16;

class Command {
 public:
  explicit Command(uint32_t type) { put(0, type, 4); }
  void put(size_t offset, uint64_t value, size_t width) {
    for (size_t i = 0; i < width; ++i) m_bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
  }
  void name(size_t offset, std::string_view file) {
    std::memcpy(m_bytes.data() + offset, file.data(), std::min(file.size(), kFileNameSize - 1));
  }
  void append_to(std::vector<uint8_t>& out) const {
    out.insert(out.end(), m_bytes.begin(), m_bytes.end());
  }

 private:
  std::array<uint8_t, kLoaderCommandSize> m_bytes{};
};

const char* file_of(RelocatableAcpi::Blob blob) {
  return blob == RelocatableAcpi::Blob::rsdp ? kRsdpFile : kTablesFile;
}

}  // namespace

LoaderFiles build_table_loader(const RelocatableAcpi& acpi) {
  LoaderFiles files{{}, acpi.rsdp, acpi.tables};
  // ALLOCATE {file[56], u32 align, u8 zone}; firmware processes allocations before anything
  // points into them.
  for (auto [file, align, zone] : {std::tuple{kRsdpFile, kRsdpAlignment, kZoneFseg},
                                   std::tuple{kTablesFile, kTablesAlignment, kZoneHigh}}) {
    Command allocate(kAllocate);
    allocate.name(4, file);
    allocate.put(60, align, 4);
    allocate.put(64, zone, 1);
    allocate.append_to(files.loader);
  }
  // ADD_POINTER {dest[56], src[56], u32 offset, u8 size}: the pointer field already holds the
  // offset into the source file; firmware adds the file's address.
  for (const auto& pointer : acpi.pointers) {
    Command add(kAddPointer);
    add.name(4, file_of(pointer.in));
    add.name(60, file_of(pointer.target));
    add.put(116, pointer.offset, 4);
    add.put(120, pointer.size, 1);
    add.append_to(files.loader);
  }
  // ADD_CHECKSUM {file[56], u32 offset, u32 start, u32 length}, over bytes whose checksum
  // field is zero.
  for (const auto& checksum : acpi.checksums) {
    Command add(kAddChecksum);
    add.name(4, file_of(checksum.in));
    add.put(60, checksum.offset, 4);
    add.put(64, checksum.start, 4);
    add.put(68, checksum.length, 4);
    add.append_to(files.loader);
  }
  return files;
}

}  // namespace haven::arch::x86::acpi
