#pragma once

// QEMU's BIOS linker/loader script (hw/acpi/bios-linker-loader.c in QEMU; what SeaBIOS's
// romfile_loader and OVMF's AcpiPlatformDxe execute): the fw_cfg file "etc/table-loader", a
// list of 128-byte commands that make guest firmware copy fw_cfg files into its memory
// (ALLOCATE), add one file's address to a pointer field in another (ADD_POINTER) and fix
// checksums (ADD_CHECKSUM). Haven hands its ACPI tables to SeaBIOS and OVMF this way, so a
// firmware-booted guest sees the same tables a directly booted one does.

#include <cstdint>
#include <string>
#include <vector>

#include "arch/x86/acpi/tables.h"

namespace haven::arch::x86::acpi {

inline constexpr const char* kLoaderFile = "etc/table-loader";
inline constexpr const char* kTablesFile = "etc/acpi/tables";
inline constexpr const char* kRsdpFile = "etc/acpi/rsdp";
inline constexpr size_t kLoaderCommandSize = 128;

// The three fw_cfg files: the RSDP goes to the BIOS's F segment (where a legacy OS scans for
// it), the tables anywhere in high memory.
struct LoaderFiles {
  std::vector<uint8_t> loader;
  std::vector<uint8_t> rsdp;
  std::vector<uint8_t> tables;
};
LoaderFiles build_table_loader(const RelocatableAcpi& acpi);

}  // namespace haven::arch::x86::acpi
