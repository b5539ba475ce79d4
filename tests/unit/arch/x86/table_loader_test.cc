#include "arch/x86/acpi/table_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "unit/arch/x86/tables_test_util.h"

namespace haven::arch::x86::acpi {
namespace {

using testing::byte_sum;
using testing::load;

// Command layout (QEMU hw/acpi/bios-linker-loader.c, BiosLinkerLoaderEntry): u32 command, then
// per command its fields; names are 56 bytes, NUL-terminated.
constexpr uint32_t kAllocate = 1, kAddPointer = 2, kAddChecksum = 3;
constexpr uint8_t kZoneHigh = 1, kZoneFseg = 2;
constexpr size_t kNameSize = 56;

struct Allocation {
  uint64_t address = 0;
  uint32_t align = 0;
  uint8_t zone = 0;
  std::vector<uint8_t> bytes;
};

// What SeaBIOS's romfile_loader and OVMF's AcpiPlatformDxe do with the script: copy each file
// to memory they choose (here: the next address with the requested alignment past an odd
// starting point per zone), patch pointers, fix checksums. Every field is checked as firmware
// would trust it; a failure is a test failure and ends the run (nullopt).
class LoaderInterpreter {
 public:
  LoaderInterpreter(uint64_t high_start, uint64_t fseg_start)
      : m_next{{kZoneHigh, high_start}, {kZoneFseg, fseg_start}} {}

  std::optional<std::map<std::string, Allocation>> run(const LoaderFiles& files) {
    std::map<std::string, const std::vector<uint8_t>*> fw_cfg = {{kRsdpFile, &files.rsdp},
                                                                 {kTablesFile, &files.tables}};
    EXPECT_EQ(files.loader.size() % kLoaderCommandSize, 0u);
    bool allocating = true;
    for (size_t at = 0; at + kLoaderCommandSize <= files.loader.size(); at += kLoaderCommandSize) {
      std::span<const uint8_t> command(files.loader.data() + at, kLoaderCommandSize);
      uint32_t type = load<uint32_t>(command, 0);
      if (type == kAllocate) {
        // Every pointer and checksum refers to files already allocated.
        EXPECT_TRUE(allocating) << "an ALLOCATE after other commands, at " << at;
        auto name = file_name(command, 4);
        if (!name || !fw_cfg.count(*name) || m_files.count(*name)) return fail("ALLOCATE", at);
        Allocation allocation;
        allocation.align = load<uint32_t>(command, 60);
        allocation.zone = command[64];
        if (allocation.align == 0 || (allocation.align & (allocation.align - 1)) != 0 ||
            !m_next.count(allocation.zone))
          return fail("ALLOCATE alignment or zone", at);
        uint64_t& next = m_next[allocation.zone];
        allocation.address = (next + allocation.align - 1) / allocation.align * allocation.align;
        allocation.bytes = *fw_cfg[*name];
        next = allocation.address + allocation.bytes.size();
        m_files[*name] = std::move(allocation);
        continue;
      }
      allocating = false;
      if (type == kAddPointer) {
        auto destination = file_name(command, 4), source = file_name(command, 60);
        if (!destination || !source || !m_files.count(*destination) || !m_files.count(*source))
          return fail("ADD_POINTER files", at);
        auto& bytes = m_files[*destination].bytes;
        uint32_t offset = load<uint32_t>(command, 116);
        uint8_t size = command[120];
        if ((size != 1 && size != 2 && size != 4 && size != 8) || offset > bytes.size() ||
            size > bytes.size() - offset)
          return fail("ADD_POINTER field", at);
        uint64_t value = 0;
        for (size_t i = 0; i < size; ++i) value |= uint64_t{bytes[offset + i]} << (8 * i);
        value += m_files[*source].address;
        if (size < 8 && value >> (8 * size)) return fail("ADD_POINTER overflow", at);
        for (size_t i = 0; i < size; ++i)
          bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
      } else if (type == kAddChecksum) {
        auto name = file_name(command, 4);
        if (!name || !m_files.count(*name)) return fail("ADD_CHECKSUM file", at);
        auto& bytes = m_files[*name].bytes;
        uint32_t offset = load<uint32_t>(command, 60), start = load<uint32_t>(command, 64),
                 length = load<uint32_t>(command, 68);
        if (offset >= bytes.size() || start > bytes.size() || length > bytes.size() - start ||
            offset < start || offset >= start + length)
          return fail("ADD_CHECKSUM range", at);
        // SeaBIOS: data[offset] -= checksum(data + start, length).
        bytes[offset] =
            static_cast<uint8_t>(bytes[offset] - byte_sum(std::span(bytes).subspan(start, length)));
      } else {
        return fail("unknown command", at);
      }
    }
    return m_files;
  }

 private:
  static std::optional<std::string> file_name(std::span<const uint8_t> command, size_t offset) {
    auto field = command.subspan(offset, kNameSize);
    auto nul = std::find(field.begin(), field.end(), 0);
    if (nul == field.end()) return std::nullopt;  // not terminated
    return std::string(field.begin(), nul);
  }
  std::nullopt_t fail(const char* what, size_t at) {
    ADD_FAILURE() << what << " in the command at " << at;
    return std::nullopt;
  }

  std::map<uint8_t, uint64_t> m_next;
  std::map<std::string, Allocation> m_files;
};

// Guest memory after the loader ran: the allocated files at their addresses.
class LoadedMemory {
 public:
  explicit LoadedMemory(const std::map<std::string, Allocation>& files) : m_files(files) {}
  // The bytes at [address, address + length), which must lie inside one file.
  std::optional<std::span<const uint8_t>> at(uint64_t address, uint64_t length) const {
    for (const auto& [name, file] : m_files)
      if (address >= file.address && address - file.address <= file.bytes.size() &&
          length <= file.bytes.size() - (address - file.address))
        return std::span(file.bytes).subspan(address - file.address, length);
    return std::nullopt;
  }
  // The ACPI table whose header is at `address`, if a whole one is there.
  std::optional<std::span<const uint8_t>> table(uint64_t address) const {
    auto header = at(address, kSdtHeaderSize);
    if (!header) return std::nullopt;
    return at(address, load<uint32_t>(*header, 4));
  }

 private:
  const std::map<std::string, Allocation>& m_files;
};

std::string signature(std::span<const uint8_t> table) {
  return {table.begin(), table.begin() + 4};
}

// Walks the loaded tables as an OS does and checks that they form one linked, valid set.
void expect_linked_tables(const std::map<std::string, Allocation>& files, bool pc) {
  LoadedMemory memory(files);
  const Allocation& rsdp_file = files.at(kRsdpFile);
  auto rsdp = memory.at(rsdp_file.address, kRsdpSize);
  ASSERT_TRUE(rsdp);
  EXPECT_EQ(std::string(rsdp->begin(), rsdp->begin() + 8), "RSD PTR ");
  EXPECT_EQ(byte_sum(rsdp->first(20)), 0) << "ACPI 1.0 checksum";
  EXPECT_EQ(byte_sum(*rsdp), 0) << "extended checksum";
  EXPECT_EQ(load<uint32_t>(*rsdp, 16), 0u) << "no RSDT";

  auto xsdt = memory.table(load<uint64_t>(*rsdp, 24));
  ASSERT_TRUE(xsdt) << "the RSDP's XSDT address lands on no table";
  EXPECT_EQ(signature(*xsdt), "XSDT");
  EXPECT_EQ(byte_sum(*xsdt), 0);
  std::map<std::string, std::span<const uint8_t>> found;
  for (size_t offset = kSdtHeaderSize; offset + 8 <= xsdt->size(); offset += 8) {
    auto table = memory.table(load<uint64_t>(*xsdt, offset));
    ASSERT_TRUE(table) << "XSDT entry " << offset << " lands on no table";
    EXPECT_EQ(byte_sum(*table), 0) << signature(*table);
    found[signature(*table)] = *table;
  }
  ASSERT_EQ(found.size(), 2u);
  ASSERT_TRUE(found.count("FACP") && found.count("APIC"));
  auto fadt = found["FACP"];
  auto dsdt = memory.table(load<uint64_t>(fadt, 140));
  ASSERT_TRUE(dsdt) << "X_DSDT lands on no table";
  EXPECT_EQ(signature(*dsdt), "DSDT");
  EXPECT_EQ(byte_sum(*dsdt), 0);
  EXPECT_EQ(load<uint32_t>(fadt, 40), load<uint64_t>(fadt, 140)) << "DSDT and X_DSDT agree";

  uint64_t facs = load<uint64_t>(fadt, 132);
  EXPECT_EQ(load<uint32_t>(fadt, 36), facs) << "FIRMWARE_CTRL and X_FIRMWARE_CTRL agree";
  if (pc) {
    auto table = memory.at(facs, 64);
    ASSERT_TRUE(table) << "FIRMWARE_CTRL lands on nothing";
    EXPECT_EQ(signature(*table), "FACS");
    EXPECT_EQ(load<uint32_t>(*table, 4), 64u);
    EXPECT_EQ(facs % 64, 0u) << "ACPI 6.4, 5.2.10: the FACS is 64-byte aligned";
  } else {
    EXPECT_EQ(facs, 0u);
  }
}

AcpiConfig config_for(bool pc, uint32_t cpus) {
  AcpiConfig config;
  config.vcpu_count = cpus;
  if (pc) config.pm_base = 0xb000;
  return config;
}

TEST(TableLoader, TheScriptIsWholeCommandsWithTheAllocationsFirst) {
  for (bool pc : {false, true}) {
    auto files = build_table_loader(build_relocatable_acpi(config_for(pc, 2)));
    ASSERT_EQ(files.loader.size() % kLoaderCommandSize, 0u);
    ASSERT_GE(files.loader.size(), 2 * kLoaderCommandSize);
    std::span<const uint8_t> script(files.loader);
    // The RSDP goes to the F segment, where a legacy OS scans for it (16-byte aligned, as it
    // searches); the tables anywhere, 64-byte aligned for the FACS.
    EXPECT_EQ(load<uint32_t>(script, 0), kAllocate);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(script.data() + 4)), kRsdpFile);
    EXPECT_EQ(load<uint32_t>(script, 60), 16u);
    EXPECT_EQ(script[64], kZoneFseg);
    EXPECT_EQ(load<uint32_t>(script, 128), kAllocate);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(script.data() + 128 + 4)), kTablesFile);
    EXPECT_EQ(load<uint32_t>(script, 128 + 60), 64u);
    EXPECT_EQ(script[128 + 64], kZoneHigh);
    for (size_t at = 2 * kLoaderCommandSize; at < script.size(); at += kLoaderCommandSize) {
      uint32_t type = load<uint32_t>(script, at);
      EXPECT_TRUE(type == kAddPointer || type == kAddChecksum) << type << " at " << at;
    }
  }
}

TEST(TableLoader, TheFilesAreTheRelocatableBlobs) {
  auto acpi = build_relocatable_acpi(config_for(true, 4));
  auto files = build_table_loader(acpi);
  EXPECT_EQ(files.rsdp, acpi.rsdp);
  EXPECT_EQ(files.tables, acpi.tables);
  EXPECT_EQ(files.loader.size(),
            (2 + acpi.pointers.size() + acpi.checksums.size()) * kLoaderCommandSize);
}

// Run as firmware would, wherever it chooses to put the files, the script yields tables that
// are fully linked and checksummed.
TEST(TableLoader, ExecutedAnywhereTheScriptLinksAValidTableSet) {
  struct Placement {
    uint64_t high, fseg;
  };
  for (bool pc : {false, true})
    for (uint32_t cpus : {1u, 3u, 64u})
      for (Placement placement : {Placement{0x7ffd0001, 0xf0005}, Placement{0x3f000, 0xf5a31},
                                  Placement{0xbfe00000 + 17, 0xfe000 - 0x800}}) {
        SCOPED_TRACE(::testing::Message() << (pc ? "PC" : "direct") << ", " << cpus
                                          << " CPUs, tables from " << std::hex << placement.high);
        auto files = build_table_loader(build_relocatable_acpi(config_for(pc, cpus)));
        LoaderInterpreter loader(placement.high, placement.fseg);
        auto loaded = loader.run(files);
        ASSERT_TRUE(loaded);
        EXPECT_EQ(loaded->at(kTablesFile).address % 64, 0u);
        EXPECT_EQ(loaded->at(kRsdpFile).address % 16, 0u);
        EXPECT_GE(loaded->at(kRsdpFile).address, 0xf0000u);
        expect_linked_tables(*loaded, pc);
      }
}

// The same tables either way: run with the files where build_acpi_tables(base) puts them (the
// RSDP at the base, the tables 48 bytes on, or 64 for a PC's whose FACS must be 64-byte
// aligned), the loader yields the direct-boot bytes exactly.
TEST(TableLoader, LoadedTablesAreTheDirectBootTablesByteForByte) {
  for (bool pc : {false, true}) {
    const uint64_t tables_offset = pc ? 64 : 48;
    const uint64_t base = pc ? 0xe0000 : 0xe0010;  // so that the tables are 64-byte aligned
    auto config = config_for(pc, 2);
    auto direct = build_acpi_tables(base, config);
    LoaderInterpreter loader(base + tables_offset, base);
    auto loaded = loader.run(build_table_loader(build_relocatable_acpi(config)));
    ASSERT_TRUE(loaded);
    ASSERT_EQ(loaded->at(kRsdpFile).address, base);
    ASSERT_EQ(loaded->at(kTablesFile).address, base + tables_offset);
    std::vector<uint8_t> joined(tables_offset, 0);
    const auto& rsdp = loaded->at(kRsdpFile).bytes;
    std::copy(rsdp.begin(), rsdp.end(), joined.begin());
    const auto& tables = loaded->at(kTablesFile).bytes;
    joined.insert(joined.end(), tables.begin(), tables.end());
    EXPECT_EQ(joined, direct.blob) << (pc ? "PC" : "direct");
  }
}

TEST(TableLoader, FileNamesFitTheirFields) {
  EXPECT_LT(std::string(kLoaderFile).size(), kNameSize);
  EXPECT_LT(std::string(kTablesFile).size(), kNameSize);
  EXPECT_LT(std::string(kRsdpFile).size(), kNameSize);
  EXPECT_EQ(std::string(kLoaderFile), "etc/table-loader");
}

}  // namespace
}  // namespace haven::arch::x86::acpi
