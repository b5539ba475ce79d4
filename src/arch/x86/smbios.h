#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace haven::arch::x86::smbios {

// SMBIOS tables (DMTF DSP0134 3.x) for firmware to install, handed over the way QEMU does:
// fw_cfg files "etc/smbios/smbios-anchor" (`anchor`) and "etc/smbios/smbios-tables"
// (`tables`). SeaBIOS puts a type 0 of its own before them (when they carry none) and fills
// in the anchor's table address and checksum; OVMF takes them only if the anchor's maximum size
// equals the tables file's size, then installs them one by one up to the type 127 and adds its
// own type 0 and end. The guest reads them as DMI (/sys/class/dmi/id, dmidecode, WMI).

struct MemoryRange {
  uint64_t start;
  uint64_t size;
};

struct SmbiosInfo {
  std::string manufacturer = "Haven";
  std::string product = "Haven Virtual Machine";
  std::string version;  // Haven's version string
  std::string serial;   // may be empty
  // RFC 4122 byte order (as the text form reads); absent: all zeros, "not set" (§7.2.1).
  std::optional<std::array<uint8_t, 16>> uuid;
  std::string family = "Haven";
  uint32_t cpus = 1;
  std::string cpu_manufacturer;  // see cpu_manufacturer_from_vendor()
  uint32_t cpu_signature = 0;    // CPUID.1:EAX
  uint32_t cpu_features = 0;     // CPUID.1:EDX
  std::vector<MemoryRange> ram;  // guest RAM ranges (below and above 4 GiB)
};

struct SmbiosTables {
  // SMBIOS 3.0 entry point "_SM3_" (24 bytes): table address 0 (firmware relocates the
  // structures and fills it in), maximum size = tables.size(), checksum valid as it stands.
  std::vector<uint8_t> anchor;
  // The structures, ending with type 127.
  std::vector<uint8_t> tables;
};

// Strings longer than kMaxStringLength bytes are cut (at a UTF-8 character boundary), and a
// string is cut at an embedded NUL: EDK2's SmbiosDxe refuses longer strings from firmware built
// for SMBIOS < 2.7, and a NUL would end the string early and shift every later string number.
// Handles are fixed per structure (type 1 is 0x0100 whatever the CPU count) and follow QEMU's
// numbering. Throws std::invalid_argument for what callers never pass: no vCPUs or more than
// kMaxCpus, more than kMaxRamRanges ranges, RAM beyond x86's 52-bit physical address space.
SmbiosTables build_smbios_tables(const SmbiosInfo& info);

// "AuthenticAMD" -> "Advanced Micro Devices, Inc.", "GenuineIntel" -> "Intel(R) Corporation"
// (what their own firmware reports), anything else as it is.
std::string cpu_manufacturer_from_vendor(std::string_view cpuid_vendor);

inline constexpr size_t kAnchorSize = 24;
inline constexpr size_t kMaxStringLength = 64;
inline constexpr uint32_t kMaxCpus = 0x0c00;
inline constexpr size_t kMaxRamRanges = 0x0d00;

}  // namespace haven::arch::x86::smbios
