#include "arch/x86/smbios.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "arch/x86/byte_writer.h"
#include "base/units.h"

namespace haven::arch::x86::smbios {
namespace {

// Structure types and the formatted-area lengths Haven writes: SMBIOS 3.0 layouts (type 17
// stops where 3.0 does; the 3.2+ fields are optional by length).
constexpr uint8_t kTypeSystem = 1;
constexpr uint8_t kTypeChassis = 3;
constexpr uint8_t kTypeProcessor = 4;
constexpr uint8_t kTypeMemoryArray = 16;
constexpr uint8_t kTypeMemoryDevice = 17;
constexpr uint8_t kTypeMemoryArrayMappedAddress = 19;
constexpr uint8_t kTypeBootInformation = 32;
constexpr uint8_t kTypeEndOfTable = 127;
constexpr uint8_t kSystemLength = 0x1b;
constexpr uint8_t kChassisLength = 0x16;
constexpr uint8_t kProcessorLength = 0x30;
constexpr uint8_t kMemoryArrayLength = 0x17;
constexpr uint8_t kMemoryDeviceLength = 0x28;
constexpr uint8_t kMappedAddressLength = 0x1f;
constexpr uint8_t kBootInformationLength = 0x0b;
constexpr uint8_t kEndOfTableLength = 0x04;

// Handles: one band per type, QEMU's numbering, so a structure keeps its handle whatever the
// CPU count or RAM size. Handles stop at 0xfeff (§6.1.2), and OVMF asserts on a duplicate
// (SmbiosDxe refuses to add a handle twice).
constexpr uint16_t kSystemHandle = 0x0100;
constexpr uint16_t kChassisHandle = 0x0300;
constexpr uint16_t kFirstProcessorHandle = 0x0400;
constexpr uint16_t kMemoryArrayHandle = 0x1000;
constexpr uint16_t kFirstMemoryDeviceHandle = 0x1100;
constexpr uint16_t kFirstMappedAddressHandle = 0x1300;
constexpr uint16_t kBootInformationHandle = 0x2000;
constexpr uint16_t kEndOfTableHandle = 0x7f00;
constexpr uint64_t kMaxMemoryDevices = kFirstMappedAddressHandle - kFirstMemoryDeviceHandle;
static_assert(kFirstProcessorHandle + kMaxCpus <= kMemoryArrayHandle);
static_assert(kFirstMappedAddressHandle + kMaxRamRanges <= kBootInformationHandle);

constexpr uint16_t kNoHandle = 0xffff;     // "no structure" (cache handles, §7.5)
constexpr uint16_t kNotProvided = 0xfffe;  // memory error information (§7.17)
constexpr uint64_t kMaxPhysicalAddress = uint64_t{1} << 52;  // x86-64's architectural limit
constexpr uint64_t kMemoryDeviceUnit = 16 * GiB;  // QEMU's split: dmidecode reads the same

// One structure (§6.1.2): a formatted area of fixed length, then its string set. Strings are
// referred to by number from 1; 0 means "no string", so empty strings are never stored.
class Structure {
 public:
  Structure(uint8_t type, uint8_t length, uint16_t handle) : m_length(length) {
    m_bytes.u8(type);
    m_bytes.u8(length);
    m_bytes.u16(handle);
  }
  ByteWriter& fields() { return m_bytes; }
  void string(std::string_view text) {
    text = bounded(text);
    if (text.empty()) {
      m_bytes.u8(0);
      return;
    }
    m_strings.emplace_back(text);
    m_bytes.u8(static_cast<uint8_t>(m_strings.size()));
  }
  // Appends the structure to `out`. The string set ends with a second NUL; an empty one is two
  // NULs (§6.1.3), which is also what OVMF's walk to the next structure looks for.
  void finish(ByteWriter& out) {
    if (m_bytes.size() != m_length)
      throw std::logic_error(fmt::format("SMBIOS type {} formatted area is {} bytes, not {}",
                                         m_bytes.bytes()[0], m_bytes.size(), m_length));
    out.append(m_bytes.bytes());
    for (const std::string& text : m_strings) out.text(text, text.size() + 1, '\0');
    if (m_strings.empty()) out.u8(0);
    out.u8(0);
  }

 private:
  static std::string_view bounded(std::string_view text) {
    text = text.substr(0, text.find('\0'));
    if (text.size() <= kMaxStringLength) return text;
    size_t end = kMaxStringLength;
    // Back up over UTF-8 continuation bytes (10xxxxxx): SMBIOS strings are UTF-8 (§6.1.3).
    while (end > 0 && (static_cast<uint8_t>(text[end]) & 0xc0) == 0x80) --end;
    return text.substr(0, end);
  }

  uint8_t m_length;
  ByteWriter m_bytes;
  std::vector<std::string> m_strings;
};

void system_information(ByteWriter& out, const SmbiosInfo& info) {
  Structure s(kTypeSystem, kSystemLength, kSystemHandle);
  s.string(info.manufacturer);
  s.string(info.product);
  s.string(info.version);
  s.string(info.serial);
  // Since SMBIOS 2.6 the first three UUID fields are stored little-endian (§7.2.1), while the
  // RFC 4122 bytes we hold are big-endian; the rest is stored as it reads.
  std::array<uint8_t, 16> uuid{};
  if (info.uuid) {
    const auto& in = *info.uuid;
    uuid = {in[3], in[2], in[1],  in[0],  in[5],  in[4],  in[7],  in[6],
            in[8], in[9], in[10], in[11], in[12], in[13], in[14], in[15]};
  }
  s.fields().append(uuid);
  s.fields().u8(0x06);  // wake-up type: power switch
  s.string("");         // SKU number
  s.string(info.family);
  s.finish(out);
}

// §7.4: a VM has no enclosure to speak of; "other", and every state "safe".
void chassis(ByteWriter& out, const SmbiosInfo& info) {
  Structure s(kTypeChassis, kChassisLength, kChassisHandle);
  s.string(info.manufacturer);
  s.fields().u8(0x01);  // type: other
  s.string(info.version);
  s.string("");         // serial number
  s.string("");         // asset tag
  s.fields().u8(0x03);  // boot-up state: safe
  s.fields().u8(0x03);  // power supply state: safe
  s.fields().u8(0x03);  // thermal state: safe
  s.fields().u8(0x02);  // security status: unknown
  s.fields().u32(0);    // OEM-defined
  s.fields().u8(0);     // height: unspecified
  s.fields().u8(0);     // power cords: unspecified
  s.fields().u8(0);     // no contained elements ...
  s.fields().u8(0);     // ... of any record length
  s.string("");         // SKU number
  s.finish(out);
}

// Processor Family 2 (§7.5.2): AMD's families 17h and later are "AMD Zen Processor Family";
// anything else "Other" (the guest learns the model from CPUID anyway).
uint16_t processor_family(const SmbiosInfo& info) {
  uint32_t family = (info.cpu_signature >> 8) & 0xf;
  if (family == 0xf) family += (info.cpu_signature >> 20) & 0xff;
  bool amd = info.cpu_manufacturer == cpu_manufacturer_from_vendor("AuthenticAMD");
  return amd && family >= 0x17 ? 0x6b : 0x01;
}

// One per vCPU, each of one core and one thread, as QEMU writes for -smp N,sockets=N. Haven's
// CPUID describes one package of N cores instead; kernels take their topology from CPUID and
// the MADT, so this only shapes what inventory tools (dmidecode, WMI) report.
void processor(ByteWriter& out, const SmbiosInfo& info, uint32_t index) {
  Structure s(kTypeProcessor, kProcessorLength,
              static_cast<uint16_t>(kFirstProcessorHandle + index));
  s.string(fmt::format("CPU {}", index));  // socket designation
  s.fields().u8(0x03);                     // type: central processor
  s.fields().u8(0xfe);                     // family: see Processor Family 2
  s.string(info.cpu_manufacturer);
  // Processor ID (§7.5.3): CPUID.1 EAX then EDX, for x86.
  s.fields().u32(info.cpu_signature);
  s.fields().u32(info.cpu_features);
  s.string("");               // version
  s.fields().u8(0);           // voltage: unknown
  s.fields().u16(0);          // external clock: unknown
  s.fields().u16(0);          // max speed: unknown
  s.fields().u16(0);          // current speed: unknown
  s.fields().u8(0x41);        // status: socket populated, CPU enabled
  s.fields().u8(0x01);        // upgrade: other
  s.fields().u16(kNoHandle);  // L1 cache
  s.fields().u16(kNoHandle);  // L2 cache
  s.fields().u16(kNoHandle);  // L3 cache
  s.string("");               // serial number
  s.string("");               // asset tag
  s.string("");               // part number
  s.fields().u8(1);           // core count
  s.fields().u8(1);           // cores enabled
  s.fields().u8(1);           // thread count
  s.fields().u16(0x04);       // characteristics: 64-bit capable
  s.fields().u16(processor_family(info));
  s.fields().u16(1);  // core count 2
  s.fields().u16(1);  // cores enabled 2
  s.fields().u16(1);  // thread count 2
  s.finish(out);
}

void memory_array(ByteWriter& out, uint64_t ram_bytes, uint16_t devices) {
  Structure s(kTypeMemoryArray, kMemoryArrayLength, kMemoryArrayHandle);
  s.fields().u8(0x01);  // location: other
  s.fields().u8(0x03);  // use: system memory
  s.fields().u8(0x03);  // error correction: none
  // Maximum capacity in KiB; from 2 TiB on, 8000_0000h and the extended field in bytes (§7.17).
  const uint64_t kib = (ram_bytes + KiB - 1) / KiB;
  const bool extended = kib >= 0x80000000;
  s.fields().u32(extended ? 0x80000000 : static_cast<uint32_t>(kib));
  s.fields().u16(kNotProvided);
  s.fields().u16(devices);
  s.fields().u64(extended ? ram_bytes : 0);
  s.finish(out);
}

void memory_device(ByteWriter& out, const SmbiosInfo& info, uint16_t index, uint64_t bytes) {
  Structure s(kTypeMemoryDevice, kMemoryDeviceLength,
              static_cast<uint16_t>(kFirstMemoryDeviceHandle + index));
  s.fields().u16(kMemoryArrayHandle);
  s.fields().u16(kNotProvided);
  s.fields().u16(0xffff);  // total width: unknown
  s.fields().u16(0xffff);  // data width: unknown
  // Size in MiB; from 32 GiB - 1 MiB on, 7FFFh and the Extended Size field in MiB (§7.18).
  const uint64_t mib = (bytes + MiB - 1) / MiB;
  const bool extended = mib >= 0x7fff;
  s.fields().u16(extended ? 0x7fff : static_cast<uint16_t>(mib));
  s.fields().u8(0x09);  // form factor: DIMM
  s.fields().u8(0);     // not part of a set
  s.string(fmt::format("DIMM {}", index));
  s.string("");            // bank locator
  s.fields().u8(0x07);     // memory type: RAM
  s.fields().u16(0x0002);  // type detail: other
  s.fields().u16(0);       // speed: unknown
  s.string(info.manufacturer);
  s.string("");      // serial number
  s.string("");      // asset tag
  s.string("");      // part number
  s.fields().u8(0);  // attributes: rank unknown
  s.fields().u32(extended ? static_cast<uint32_t>(mib) : 0);
  s.fields().u16(0);  // configured speed: unknown
  s.fields().u16(0);  // minimum voltage: unknown
  s.fields().u16(0);  // maximum voltage: unknown
  s.fields().u16(0);  // configured voltage: unknown
  s.finish(out);
}

void mapped_address(ByteWriter& out, uint16_t index, const MemoryRange& range) {
  Structure s(kTypeMemoryArrayMappedAddress, kMappedAddressLength,
              static_cast<uint16_t>(kFirstMappedAddressHandle + index));
  // Addresses in KiB, inclusive; a range reaching 4 TiB (FFFF_FFFFh KiB) uses the extended
  // fields, in bytes, instead (§7.20).
  const uint64_t end = range.start + range.size - 1;
  const bool extended = range.start / KiB >= 0xffffffff || end / KiB >= 0xffffffff;
  s.fields().u32(extended ? 0xffffffff : static_cast<uint32_t>(range.start / KiB));
  s.fields().u32(extended ? 0xffffffff : static_cast<uint32_t>(end / KiB));
  s.fields().u16(kMemoryArrayHandle);
  s.fields().u8(1);  // partition width: one device per row
  s.fields().u64(extended ? range.start : 0);
  s.fields().u64(extended ? end : 0);
  s.finish(out);
}

// §7.33; one of the structures §6.2 requires, with boot status "no errors detected".
void boot_information(ByteWriter& out) {
  Structure s(kTypeBootInformation, kBootInformationLength, kBootInformationHandle);
  s.fields().zeros(6);  // reserved
  s.fields().u8(0);     // boot status: no errors detected
  s.finish(out);
}

// §7.46: OVMF installs structures up to this one, so it must come last.
void end_of_table(ByteWriter& out) {
  Structure s(kTypeEndOfTable, kEndOfTableLength, kEndOfTableHandle);
  s.finish(out);
}

// The SMBIOS 3.0 entry point (§5.2.2). The checksum is made valid for address 0: SeaBIOS
// subtracts the byte sum after patching the address, which works from any starting checksum;
// OVMF builds its own entry point and only checks the signature, version and maximum size.
std::vector<uint8_t> anchor(size_t tables_size) {
  ByteWriter w;
  w.text("_SM3_", 5);
  w.u8(0);  // checksum, patched below
  w.u8(kAnchorSize);
  w.u8(3);  // SMBIOS 3.0.0
  w.u8(0);
  w.u8(0);  // docrev
  w.u8(1);  // entry point revision: 3.0 entry point
  w.u8(0);
  w.u32(static_cast<uint32_t>(tables_size));
  w.u64(0);  // structure table address
  w.patch_u8(5, checksum_byte(w.bytes()));
  return w.take();
}

uint64_t validated_ram_bytes(const SmbiosInfo& info) {
  if (info.cpus == 0 || info.cpus > kMaxCpus)
    throw std::invalid_argument(fmt::format("SMBIOS for {} vCPUs", info.cpus));
  if (info.ram.size() > kMaxRamRanges)
    throw std::invalid_argument(fmt::format("SMBIOS for {} RAM ranges", info.ram.size()));
  uint64_t total = 0;
  for (const MemoryRange& range : info.ram) {
    if (range.start >= kMaxPhysicalAddress || range.size > kMaxPhysicalAddress - range.start)
      throw std::invalid_argument(
          fmt::format("SMBIOS for RAM at {:#x} size {:#x}", range.start, range.size));
    total += range.size;
  }
  if (total > kMaxPhysicalAddress)
    throw std::invalid_argument(fmt::format("SMBIOS for {:#x} bytes of RAM", total));
  return total;
}

}  // namespace

SmbiosTables build_smbios_tables(const SmbiosInfo& info) {
  const uint64_t ram_bytes = validated_ram_bytes(info);
  // QEMU's 16 GiB devices, grown in 16 GiB steps when that many would overflow the handle band
  // (beyond 8 TiB).
  const uint64_t per_band = (ram_bytes + kMaxMemoryDevices - 1) / kMaxMemoryDevices;
  const uint64_t unit = std::max(kMemoryDeviceUnit, (per_band + kMemoryDeviceUnit - 1) /
                                                        kMemoryDeviceUnit * kMemoryDeviceUnit);
  const auto devices = static_cast<uint16_t>((ram_bytes + unit - 1) / unit);

  ByteWriter out;
  system_information(out, info);
  chassis(out, info);
  for (uint32_t cpu = 0; cpu < info.cpus; ++cpu) processor(out, info, cpu);
  memory_array(out, ram_bytes, devices);
  for (uint16_t i = 0; i < devices; ++i)
    memory_device(out, info, i, i + 1 < devices ? unit : ram_bytes - uint64_t{i} * unit);
  uint16_t mapped = 0;
  for (const MemoryRange& range : info.ram)
    if (range.size > 0) mapped_address(out, mapped++, range);
  boot_information(out);
  end_of_table(out);

  SmbiosTables result;
  result.anchor = anchor(out.size());
  result.tables = out.take();
  return result;
}

std::string cpu_manufacturer_from_vendor(std::string_view cpuid_vendor) {
  if (cpuid_vendor == "AuthenticAMD") return "Advanced Micro Devices, Inc.";
  if (cpuid_vendor == "GenuineIntel") return "Intel(R) Corporation";
  return std::string(cpuid_vendor);
}

}  // namespace haven::arch::x86::smbios
