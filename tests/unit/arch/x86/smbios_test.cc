#include "arch/x86/smbios.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/units.h"
#include "unit/arch/x86/tables_test_util.h"

namespace haven::arch::x86::smbios {
namespace {

using testing::byte_sum;
using testing::load;

// One structure as a guest's DMI decoder sees it, copied out (tests walk temporaries).
struct Structure {
  uint8_t type;
  uint16_t handle;
  std::vector<uint8_t> formatted;  // header included
  std::vector<std::string> strings;

  uint8_t u8(size_t offset) const { return field<uint8_t>(offset); }
  uint16_t u16(size_t offset) const { return field<uint16_t>(offset); }
  uint32_t u32(size_t offset) const { return field<uint32_t>(offset); }
  uint64_t u64(size_t offset) const { return field<uint64_t>(offset); }
  template <class T>
  T field(size_t offset) const {
    if (offset + sizeof(T) > formatted.size()) {
      ADD_FAILURE() << "type " << int(type) << " has no field at " << offset;
      return 0;
    }
    return load<T>(formatted, offset);
  }
  // The string a string-number field refers to; "" for 0.
  std::string str(size_t offset) const {
    uint8_t number = u8(offset);
    if (number == 0) return "";
    EXPECT_LE(number, strings.size()) << "type " << int(type) << " offset " << offset;
    return number <= strings.size() ? strings[number - 1] : "<missing>";
  }
};

// Walks the structures as firmware and dmidecode do (SMBIOS 3.x §6.1): header, formatted
// area, strings up to a double NUL. Checks each string set's shape and that type 127 ends it.
std::vector<Structure> walk(std::span<const uint8_t> tables) {
  std::vector<Structure> found;
  size_t offset = 0;
  while (offset < tables.size()) {
    if (offset + 4 > tables.size() || tables[offset + 1] < 4 ||
        offset + tables[offset + 1] + 2 > tables.size()) {
      ADD_FAILURE() << "structure at " << offset << " overruns the tables";
      break;
    }
    Structure s{tables[offset],
                load<uint16_t>(tables, offset + 2),
                {tables.begin() + offset, tables.begin() + offset + tables[offset + 1]},
                {}};
    size_t pos = offset + s.formatted.size();
    if (tables[pos] == 0) {
      EXPECT_EQ(tables[pos + 1], 0) << "empty string set of type " << int(s.type);
      pos += 2;
    } else {
      while (pos < tables.size() && tables[pos] != 0) {
        size_t end = pos;
        while (end < tables.size() && tables[end] != 0) ++end;
        s.strings.emplace_back(reinterpret_cast<const char*>(&tables[pos]), end - pos);
        pos = end + 1;
      }
      EXPECT_LT(pos, tables.size()) << "string set of type " << int(s.type) << " unterminated";
      ++pos;  // the second NUL
    }
    found.push_back(s);
    offset = pos;
    if (s.type == 127) break;
  }
  EXPECT_EQ(offset, tables.size()) << "bytes after the end-of-table structure";
  EXPECT_TRUE(!found.empty() && found.back().type == 127) << "no end-of-table structure";
  return found;
}

std::vector<Structure> of_type(const std::vector<Structure>& all, uint8_t type) {
  std::vector<Structure> matching;
  for (const Structure& s : all)
    if (s.type == type) matching.push_back(s);
  return matching;
}

// The guest's RAM as ram_regions() lays it out: up to 3 GiB below the PCI hole, the rest at 4 GiB.
SmbiosInfo machine(uint64_t ram_bytes, uint32_t cpus = 1) {
  SmbiosInfo info;
  info.version = "0.9";
  info.cpus = cpus;
  info.cpu_manufacturer = cpu_manufacturer_from_vendor("AuthenticAMD");
  info.cpu_signature = 0x00a00f11;  // EPYC 9004: family 19h
  info.cpu_features = 0x178bfbff;
  info.ram.push_back({0, std::min(ram_bytes, 3 * GiB)});
  if (ram_bytes > 3 * GiB) info.ram.push_back({4 * GiB, ram_bytes - 3 * GiB});
  return info;
}

TEST(Smbios, AnchorIsAValid30EntryPointSizedToTheTables) {
  auto out = build_smbios_tables(machine(512 * MiB));
  const auto& a = out.anchor;
  ASSERT_EQ(a.size(), kAnchorSize);
  EXPECT_EQ(std::string(a.begin(), a.begin() + 5), "_SM3_");
  EXPECT_EQ(byte_sum(a), 0);
  EXPECT_EQ(a[6], 0x18);                                // entry point length
  EXPECT_EQ(a[7], 3);                                   // major
  EXPECT_EQ(a[8], 0);                                   // minor
  EXPECT_EQ(a[10], 1);                                  // entry point revision
  EXPECT_EQ(load<uint32_t>(a, 12), out.tables.size());  // what OVMF compares to the file size
  EXPECT_EQ(load<uint64_t>(a, 16), 0u);
}

TEST(Smbios, EveryStructureIsPresentOnceWithAUniqueHandle) {
  auto out = build_smbios_tables(machine(6 * GiB, 2));
  auto all = walk(out.tables);
  std::map<uint8_t, size_t> count;
  std::set<uint16_t> handles;
  for (const Structure& s : all) {
    ++count[s.type];
    EXPECT_TRUE(handles.insert(s.handle).second) << "handle " << s.handle << " twice";
    EXPECT_LT(s.handle, 0xff00) << "reserved handle";
  }
  std::map<uint8_t, size_t> want = {{1, 1},  {3, 1},  {4, 2},  {16, 1},
                                    {17, 1}, {19, 2}, {32, 1}, {127, 1}};
  EXPECT_EQ(count, want);
  std::map<uint8_t, size_t> lengths = {{1, 0x1b},  {3, 0x16},  {4, 0x30},  {16, 0x17},
                                       {17, 0x28}, {19, 0x1f}, {32, 0x0b}, {127, 4}};
  for (const Structure& s : all) EXPECT_EQ(s.formatted.size(), lengths[s.type]) << int(s.type);
}

TEST(Smbios, SystemInformationCarriesTheStringsAndAMixedEndianUuid) {
  SmbiosInfo info = machine(512 * MiB);
  info.serial = "HV-0042";
  info.uuid = std::array<uint8_t, 16>{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  auto out = build_smbios_tables(info);
  auto systems = of_type(walk(out.tables), 1);
  ASSERT_EQ(systems.size(), 1u);
  const Structure& s = systems[0];
  EXPECT_EQ(s.handle, 0x0100);
  EXPECT_EQ(s.str(4), "Haven");
  EXPECT_EQ(s.str(5), "Haven Virtual Machine");
  EXPECT_EQ(s.str(6), "0.9");
  EXPECT_EQ(s.str(7), "HV-0042");
  // 00112233-4455-6677-8899-aabbccddeeff: time_low, time_mid, time_hi little-endian (§7.2.1).
  std::vector<uint8_t> uuid(s.formatted.begin() + 8, s.formatted.begin() + 24);
  std::vector<uint8_t> want = {0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
                               0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  EXPECT_EQ(uuid, want);
  EXPECT_EQ(s.u8(24), 0x06);  // wake-up: power switch
  EXPECT_EQ(s.u8(25), 0);     // no SKU
  EXPECT_EQ(s.str(26), "Haven");
  EXPECT_EQ(s.strings.size(), 5u);
}

TEST(Smbios, EmptyStringsAndAMissingUuidAreLeftOut) {
  SmbiosInfo info = machine(512 * MiB);
  info.version.clear();
  auto systems = of_type(walk(build_smbios_tables(info).tables), 1);
  ASSERT_EQ(systems.size(), 1u);
  EXPECT_EQ(systems[0].u8(6), 0);  // version
  EXPECT_EQ(systems[0].u8(7), 0);  // serial
  EXPECT_EQ(systems[0].str(26), "Haven");
  EXPECT_EQ(systems[0].strings,
            (std::vector<std::string>{"Haven", "Haven Virtual Machine", "Haven"}));
  for (size_t i = 8; i < 24; ++i) EXPECT_EQ(systems[0].u8(i), 0) << "UUID byte " << i;
}

TEST(Smbios, StringsAreCutAt64BytesOnACharacterBoundaryAndAtNul) {
  SmbiosInfo info = machine(512 * MiB);
  info.serial = std::string(63, 'x') + "\xc3\xa9" + "tail";  // é straddles byte 64
  info.version = std::string("1.0\0evil", 8);
  info.product = std::string(100, 'p');
  auto systems = of_type(walk(build_smbios_tables(info).tables), 1);
  ASSERT_EQ(systems.size(), 1u);
  EXPECT_EQ(systems[0].str(5), std::string(64, 'p'));
  EXPECT_EQ(systems[0].str(6), "1.0");
  EXPECT_EQ(systems[0].str(7), std::string(63, 'x'));
  info.serial = std::string("\0hidden", 7);
  systems = of_type(walk(build_smbios_tables(info).tables), 1);
  ASSERT_EQ(systems.size(), 1u);
  EXPECT_EQ(systems[0].u8(7), 0);
}

TEST(Smbios, ChassisIsOtherAndSafe) {
  auto chassis = of_type(walk(build_smbios_tables(machine(512 * MiB)).tables), 3);
  ASSERT_EQ(chassis.size(), 1u);
  const Structure& s = chassis[0];
  EXPECT_EQ(s.str(4), "Haven");
  EXPECT_EQ(s.u8(5), 0x01);
  EXPECT_EQ(s.str(6), "0.9");
  EXPECT_EQ(s.u8(9), 0x03);   // boot-up state
  EXPECT_EQ(s.u8(10), 0x03);  // power supply state
  EXPECT_EQ(s.u8(11), 0x03);  // thermal state
  EXPECT_EQ(s.u8(0x13), 0);   // contained elements
}

TEST(Smbios, OneProcessorPerVcpu) {
  for (uint32_t cpus : {1u, 8u}) {
    SmbiosInfo info = machine(512 * MiB, cpus);
    auto processors = of_type(walk(build_smbios_tables(info).tables), 4);
    ASSERT_EQ(processors.size(), cpus);
    for (uint32_t i = 0; i < cpus; ++i) {
      const Structure& s = processors[i];
      EXPECT_EQ(s.handle, 0x0400 + i);
      EXPECT_EQ(s.str(4), "CPU " + std::to_string(i));
      EXPECT_EQ(s.u8(5), 0x03);  // central processor
      EXPECT_EQ(s.u8(6), 0xfe);  // family in Processor Family 2
      EXPECT_EQ(s.str(7), "Advanced Micro Devices, Inc.");
      EXPECT_EQ(s.u32(8), 0x00a00f11u);
      EXPECT_EQ(s.u32(12), 0x178bfbffu);
      EXPECT_EQ(s.u8(0x18), 0x41);  // populated, enabled
      EXPECT_EQ(s.u16(0x1a), 0xffff);
      EXPECT_EQ(s.u8(0x23), 1);      // cores
      EXPECT_EQ(s.u8(0x24), 1);      // enabled
      EXPECT_EQ(s.u8(0x25), 1);      // threads
      EXPECT_EQ(s.u16(0x26), 0x04);  // 64-bit capable
      EXPECT_EQ(s.u16(0x28), 0x6b);  // AMD Zen
      EXPECT_EQ(s.u16(0x2a), 1);
      EXPECT_EQ(s.u16(0x2c), 1);
      EXPECT_EQ(s.u16(0x2e), 1);
    }
  }
}

TEST(Smbios, ProcessorFamilyIsOtherUnlessAZenAmd) {
  EXPECT_EQ(cpu_manufacturer_from_vendor("HygonGenuine"), "HygonGenuine");
  SmbiosInfo info = machine(512 * MiB);
  info.cpu_manufacturer = cpu_manufacturer_from_vendor("GenuineIntel");
  info.cpu_signature = 0x000806f8;  // Sapphire Rapids: family 6
  auto processors = of_type(walk(build_smbios_tables(info).tables), 4);
  ASSERT_EQ(processors.size(), 1u);
  EXPECT_EQ(processors[0].u16(0x28), 0x01);
  EXPECT_EQ(processors[0].str(7), "Intel(R) Corporation");  // from "GenuineIntel"
  info = machine(512 * MiB);
  info.cpu_signature = 0x00100f42;  // Opteron 2300: family 10h, before Zen
  processors = of_type(walk(build_smbios_tables(info).tables), 4);
  ASSERT_EQ(processors.size(), 1u);
  EXPECT_EQ(processors[0].u16(0x28), 0x01);
}

// What types 16, 17 and 19 should say for `ram` bytes laid out by machine(); extended fields
// left empty are expected to be zero.
struct MemoryCase {
  uint64_t ram;
  uint32_t array_kib;                                         // type 16 maximum capacity
  uint64_t array_extended;                                    // type 16 extended, bytes
  std::vector<uint16_t> device_mib;                           // type 17 size
  std::vector<uint32_t> device_extended_mib;                  // type 17 extended size
  std::vector<std::pair<uint32_t, uint32_t>> range_kib;       // type 19 start, end
  std::vector<std::pair<uint64_t, uint64_t>> range_extended;  // type 19 extended, bytes
};

void expect_memory(const MemoryCase& c) {
  SCOPED_TRACE(c.ram);
  auto all = walk(build_smbios_tables(machine(c.ram)).tables);
  auto arrays = of_type(all, 16);
  ASSERT_EQ(arrays.size(), 1u);
  EXPECT_EQ(arrays[0].handle, 0x1000);
  EXPECT_EQ(arrays[0].u8(5), 0x03);  // system memory
  EXPECT_EQ(arrays[0].u8(6), 0x03);  // no error correction
  EXPECT_EQ(arrays[0].u32(7), c.array_kib);
  EXPECT_EQ(arrays[0].u16(0x0d), c.device_mib.size());
  EXPECT_EQ(arrays[0].u64(0x0f), c.array_extended);

  auto devices = of_type(all, 17);
  ASSERT_EQ(devices.size(), c.device_mib.size());
  for (size_t i = 0; i < devices.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(devices[i].u16(4), 0x1000);  // its array
    EXPECT_EQ(devices[i].u16(0x0c), c.device_mib[i]);
    EXPECT_EQ(devices[i].u32(0x1c), c.device_extended_mib.empty() ? 0 : c.device_extended_mib[i]);
    EXPECT_EQ(devices[i].str(0x10), "DIMM " + std::to_string(i));
    EXPECT_EQ(devices[i].u8(0x12), 0x07);  // RAM
  }

  auto mapped = of_type(all, 19);
  ASSERT_EQ(mapped.size(), c.range_kib.size());
  for (size_t i = 0; i < mapped.size(); ++i) {
    SCOPED_TRACE(i);
    auto extended =
        c.range_extended.empty() ? std::pair<uint64_t, uint64_t>{} : c.range_extended[i];
    EXPECT_EQ(mapped[i].u32(4), c.range_kib[i].first);
    EXPECT_EQ(mapped[i].u32(8), c.range_kib[i].second);
    EXPECT_EQ(mapped[i].u16(0x0c), 0x1000);
    EXPECT_EQ(mapped[i].u64(0x0f), extended.first);
    EXPECT_EQ(mapped[i].u64(0x17), extended.second);
  }
}

constexpr uint64_t TiB = 1024 * GiB;
constexpr uint32_t kib(uint64_t bytes) {
  return static_cast<uint32_t>(bytes / KiB);
}
const std::pair<uint32_t, uint32_t> kBelowHole = {0, kib(3 * GiB) - 1};

TEST(Smbios, MemoryBelowTheHole) {
  expect_memory({512 * MiB, kib(512 * MiB), 0, {512}, {}, {{0, kib(512 * MiB) - 1}}, {}});
  expect_memory({3 * GiB, kib(3 * GiB), 0, {3072}, {}, {kBelowHole}, {}});
}

TEST(Smbios, MemorySplitAroundTheHoleIsOneArrayTwoRanges) {
  MemoryCase c{6 * GiB, kib(6 * GiB), 0, {6144}, {}, {}, {}};
  c.range_kib = {kBelowHole, {kib(4 * GiB), kib(7 * GiB) - 1}};
  expect_memory(c);
}

TEST(Smbios, MemoryComesIn16GiBDevices) {
  MemoryCase c{64 * GiB, kib(64 * GiB), 0, {16384, 16384, 16384, 16384}, {}, {}, {}};
  c.range_kib = {kBelowHole, {kib(4 * GiB), kib(65 * GiB) - 1}};
  expect_memory(c);
}

TEST(Smbios, From2TiBTheArrayUsesItsExtendedCapacity) {
  MemoryCase c{3 * TiB, 0x80000000, 3 * TiB, std::vector<uint16_t>(192, 16384), {}, {}, {}};
  c.range_kib = {kBelowHole, {kib(4 * GiB), kib(3 * TiB + GiB) - 1}};
  expect_memory(c);
  // Just under 2 TiB still fits the 32-bit KiB field.
  auto arrays = of_type(walk(build_smbios_tables(machine(2 * TiB - GiB)).tables), 16);
  ASSERT_EQ(arrays.size(), 1u);
  EXPECT_EQ(arrays[0].u32(7), kib(2 * TiB - GiB));
  EXPECT_EQ(arrays[0].u64(0x0f), 0u);
}

TEST(Smbios, RangesReaching4TiBUseExtendedAddresses) {
  MemoryCase c{5 * TiB, 0x80000000, 5 * TiB, std::vector<uint16_t>(320, 16384), {}, {}, {}};
  c.range_kib = {kBelowHole, {0xffffffff, 0xffffffff}};
  c.range_extended = {{0, 0}, {4 * GiB, 5 * TiB + GiB - 1}};
  expect_memory(c);
}

TEST(Smbios, Beyond8TiBDevicesGrowAndUseTheExtendedSize) {
  // 16 TiB in 16 GiB devices would take 1024 handles; 512 devices of 32 GiB fit the band.
  MemoryCase c{16 * TiB,
               0x80000000,
               16 * TiB,
               std::vector<uint16_t>(512, 0x7fff),
               std::vector<uint32_t>(512, 32768),
               {},
               {}};
  c.range_kib = {kBelowHole, {0xffffffff, 0xffffffff}};
  c.range_extended = {{0, 0}, {4 * GiB, 16 * TiB + GiB - 1}};
  expect_memory(c);
}

TEST(Smbios, LastDeviceHoldsTheRemainder) {
  auto devices = of_type(walk(build_smbios_tables(machine(40 * GiB + 512 * MiB)).tables), 17);
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices[0].u16(0x0c), 16384);
  EXPECT_EQ(devices[1].u16(0x0c), 16384);
  EXPECT_EQ(devices[2].u16(0x0c), 8704);
}

TEST(Smbios, EmptyRangesAreNotMapped) {
  SmbiosInfo info = machine(512 * MiB);
  info.ram.insert(info.ram.begin(), {0, 0});
  auto mapped = of_type(walk(build_smbios_tables(info).tables), 19);
  ASSERT_EQ(mapped.size(), 1u);
  EXPECT_EQ(mapped[0].handle, 0x1300);
  EXPECT_EQ(mapped[0].u32(8), kib(512 * MiB) - 1);
}

TEST(Smbios, AsManyRangesAsTheHandleBandHolds) {
  SmbiosInfo info = machine(0);
  info.ram.clear();
  for (size_t i = 0; i < kMaxRamRanges; ++i) info.ram.push_back({i * 2 * MiB, MiB});
  std::set<uint16_t> handles;
  auto all = walk(build_smbios_tables(info).tables);
  for (const Structure& s : all) EXPECT_TRUE(handles.insert(s.handle).second) << s.handle;
  EXPECT_EQ(of_type(all, 19).size(), kMaxRamRanges);
  info.ram.push_back({kMaxRamRanges * 2 * MiB, MiB});
  EXPECT_THROW(build_smbios_tables(info), std::invalid_argument);
}

TEST(Smbios, BootInformationReportsNoErrorsAndTheTableEnds) {
  auto all = walk(build_smbios_tables(machine(512 * MiB)).tables);
  auto boot = of_type(all, 32);
  ASSERT_EQ(boot.size(), 1u);
  for (size_t i = 4; i < 11; ++i) EXPECT_EQ(boot[0].u8(i), 0) << i;
  auto end = of_type(all, 127);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_TRUE(end[0].strings.empty());
}

TEST(Smbios, HandlesAndBytesAreStable) {
  auto once = build_smbios_tables(machine(6 * GiB, 8));
  auto again = build_smbios_tables(machine(6 * GiB, 8));
  EXPECT_EQ(once.tables, again.tables);
  EXPECT_EQ(once.anchor, again.anchor);
  // The first structure of each type keeps its handle whatever the CPU count and RAM size.
  auto first_handles = [](const SmbiosTables& tables) {
    std::map<uint8_t, uint16_t> handles;
    for (const Structure& s : walk(tables.tables)) handles.emplace(s.type, s.handle);
    return handles;
  };
  EXPECT_EQ(first_handles(build_smbios_tables(machine(512 * MiB, 1))), first_handles(once));
}

TEST(Smbios, LargestMachineFitsSeaBiosSixteenBitLength) {
  // SeaBIOS holds the tables' length in 16 bits (smbios_build_tables) and adds its type 0.
  SmbiosInfo info = machine(1024 * GiB, 254);
  info.cpu_manufacturer = std::string(80, 'm');
  info.serial = std::string(80, 's');
  auto out = build_smbios_tables(info);
  EXPECT_LT(out.tables.size(), 0xffffu - 256);
  EXPECT_EQ(of_type(walk(out.tables), 4).size(), 254u);
}

TEST(Smbios, RefusesWhatNoCallerPasses) {
  SmbiosInfo info = machine(512 * MiB, 0);
  EXPECT_THROW(build_smbios_tables(info), std::invalid_argument);
  info.cpus = kMaxCpus + 1;
  EXPECT_THROW(build_smbios_tables(info), std::invalid_argument);
  info = machine(512 * MiB);
  info.ram.push_back({uint64_t{1} << 52, GiB});
  EXPECT_THROW(build_smbios_tables(info), std::invalid_argument);
}

}  // namespace
}  // namespace haven::arch::x86::smbios
