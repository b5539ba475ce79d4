#include "arch/x86/acpi/aml.h"
#include "arch/x86/acpi/tables.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "arch/x86/layout.h"
#include "unit/arch/x86/tables_test_util.h"

namespace haven::arch::x86::acpi {
namespace {

using testing::byte_sum;
using testing::load;

constexpr uint64_t kBase = 0xe0000;

// Finds every table through RSDP -> XSDT (and FADT -> DSDT), checking each pointer lands
// inside the blob and each table's length fits.
std::map<std::string, std::span<const uint8_t>> walk(const AcpiTables& tables) {
  std::span<const uint8_t> blob(tables.blob);
  std::map<std::string, std::span<const uint8_t>> found;
  auto table_at = [&](uint64_t address) -> std::span<const uint8_t> {
    EXPECT_GE(address, kBase);
    EXPECT_LE(address - kBase + kSdtHeaderSize, blob.size());
    auto length = load<uint32_t>(blob, address - kBase + 4);
    EXPECT_LE(address - kBase + length, blob.size());
    return blob.subspan(address - kBase, length);
  };
  std::span<const uint8_t> rsdp = blob.subspan(tables.rsdp_address - kBase, kRsdpSize);
  found["RSDP"] = rsdp;
  auto xsdt = table_at(load<uint64_t>(rsdp, 24));
  found["XSDT"] = xsdt;
  for (size_t offset = kSdtHeaderSize; offset + 8 <= xsdt.size(); offset += 8) {
    auto table = table_at(load<uint64_t>(xsdt, offset));
    found[std::string(reinterpret_cast<const char*>(table.data()), 4)] = table;
  }
  auto fadt = found.at("FACP");
  found["DSDT"] = table_at(load<uint64_t>(fadt, 140));  // X_DSDT
  return found;
}
// The spans point into the tables: walking a temporary would leave them dangling.
std::map<std::string, std::span<const uint8_t>> walk(const AcpiTables&& tables) = delete;

TEST(AcpiTables, RsdpHasBothChecksumsAndPointsAtTheXsdt) {
  auto tables = build_acpi_tables(kBase, 2);
  EXPECT_EQ(tables.rsdp_address, kBase);
  std::span<const uint8_t> rsdp(tables.blob.data(), kRsdpSize);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(rsdp.data()), 8), "RSD PTR ");
  EXPECT_EQ(byte_sum(rsdp.first(20)), 0);
  EXPECT_EQ(byte_sum(rsdp), 0);
  EXPECT_EQ(rsdp[15], 2);  // revision 2: XSDT present
}

TEST(AcpiTables, EveryTableIsReachableWithAZeroChecksum) {
  auto tables = build_acpi_tables(kBase, 4);  // the spans below point into it
  auto found = walk(tables);
  for (const char* name : {"XSDT", "FACP", "APIC", "DSDT"}) {
    ASSERT_TRUE(found.count(name)) << name;
    EXPECT_EQ(byte_sum(found[name]), 0) << name;
  }
}

TEST(AcpiTables, FadtIsHardwareReducedWithHavensPowerRegisters) {
  auto tables = build_acpi_tables(kBase, 1);
  auto fadt = walk(tables).at("FACP");
  ASSERT_EQ(fadt.size(), kFadtSize);
  EXPECT_EQ(fadt[8], 6);  // revision
  uint32_t flags = load<uint32_t>(fadt, 112);
  EXPECT_TRUE(flags & (1u << 20));  // HW_REDUCED_ACPI
  EXPECT_TRUE(flags & (1u << 10));  // RESET_REG_SUP
  EXPECT_EQ(fadt[116], 1);          // RESET_REG: system I/O space
  EXPECT_EQ(load<uint64_t>(fadt, 120), kAcpiResetPort);
  EXPECT_EQ(fadt[128], kAcpiResetValue);
  EXPECT_EQ(load<uint64_t>(fadt, 244 + 4), kAcpiSleepControlPort);  // SLEEP_CONTROL_REG
  EXPECT_EQ(load<uint64_t>(fadt, 256 + 4), kAcpiSleepStatusPort);   // SLEEP_STATUS_REG
}

TEST(AcpiTables, MadtListsOneEnabledLapicPerVcpuAndTheIoapic) {
  for (uint32_t cpus : {1u, 2u, 8u, kMaxVcpus}) {
    auto tables = build_acpi_tables(kBase, cpus);
    auto madt = walk(tables).at("APIC");
    EXPECT_EQ(load<uint32_t>(madt, 36), kLapicAddress);
    uint32_t lapics = 0, ioapics = 0;
    for (size_t offset = 44; offset + 2 <= madt.size();) {
      uint8_t type = madt[offset], length = madt[offset + 1];
      ASSERT_GE(length, 2) << "zero-length MADT entry";
      if (type == 0) {  // processor local APIC: id, flags enabled
        EXPECT_EQ(madt[offset + 3], lapics);
        EXPECT_EQ(load<uint32_t>(madt, offset + 4) & 1, 1u);
        ++lapics;
      } else if (type == 1) {
        EXPECT_EQ(load<uint32_t>(madt, offset + 4), kIoapicAddress);
        ++ioapics;
      }
      offset += length;
    }
    EXPECT_EQ(lapics, cpus);
    EXPECT_EQ(ioapics, 1u);
  }
}

TEST(AcpiTables, DsdtDefinesS5AndTheSerialPort) {
  auto tables = build_acpi_tables(kBase, 1);
  auto dsdt = walk(tables).at("DSDT");
  std::string body(reinterpret_cast<const char*>(dsdt.data()), dsdt.size());
  EXPECT_NE(body.find("_S5_"), std::string::npos);
  EXPECT_NE(body.find("COM1"), std::string::npos);
  EXPECT_NE(body.find("PCI0"), std::string::npos);
}

TEST(AcpiTables, DsdtHasAPowerButtonBehindAGenericEventDevice) {
  auto tables = build_acpi_tables(kBase, 1);
  auto dsdt = walk(tables).at("DSDT");
  std::string body(reinterpret_cast<const char*>(dsdt.data()), dsdt.size());
  EXPECT_NE(body.find("ACPI0013"), std::string::npos);
  EXPECT_NE(body.find("_EVT"), std::string::npos);
  // The GED's interrupt is the one haven-vmm raises for a press.
  auto interrupt = aml::edge_interrupt(kPowerButtonGsi);
  EXPECT_NE(body.find(std::string(interrupt.begin(), interrupt.end())), std::string::npos);
  // Notify (PWRB, 0x80) inside _EVT, and the button device PWRB itself.
  auto notify = aml::notify("PWRB", 0x80);
  EXPECT_NE(body.find(std::string(notify.begin(), notify.end())), std::string::npos);
}

bool contains(std::span<const uint8_t> haystack, const std::vector<uint8_t>& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

// The direct-boot layout the kernel loader relies on did not move when the tables became
// relocatable: RSDP at the base, then XSDT, FADT, MADT and DSDT, each 16-byte aligned.
TEST(AcpiTables, DirectBootLayoutIsUnchanged) {
  auto tables = build_acpi_tables(kBase, 2);
  std::span<const uint8_t> blob(tables.blob);
  EXPECT_EQ(load<uint64_t>(blob, 24), kBase + 48) << "XSDT right after the RSDP";
  auto found = walk(tables);
  EXPECT_EQ(found.at("XSDT").data(), blob.data() + 48);
  EXPECT_EQ(found.at("FACP").data(), blob.data() + 112);
  EXPECT_EQ(found.at("APIC").data(), blob.data() + 400);
  EXPECT_EQ(found.at("XSDT").size(), kSdtHeaderSize + 16) << "two entries: FADT and MADT";
  auto fadt = found.at("FACP");
  EXPECT_EQ(load<uint32_t>(fadt, 40), load<uint64_t>(fadt, 140)) << "DSDT and X_DSDT agree";
  EXPECT_EQ(load<uint32_t>(fadt, 36), 0u) << "no FACS";
  EXPECT_EQ(load<uint64_t>(fadt, 132), 0u);
  EXPECT_EQ(load<uint16_t>(fadt, 46), 0) << "no SCI";
  EXPECT_EQ(found.at("DSDT").data() + found.at("DSDT").size(), blob.data() + blob.size())
      << "the DSDT last";
  EXPECT_EQ(load<uint32_t>(found.at("APIC"), 40), 0u) << "no PCAT_COMPAT: no 8259s to mask";
  AcpiConfig config;
  config.vcpu_count = 2;
  EXPECT_EQ(build_acpi_tables(kBase, config).blob, tables.blob);
}

TEST(AcpiTables, DirectBootDsdtSaysS5IsHavensSleepType) {
  auto tables = build_acpi_tables(kBase, 1);
  auto dsdt = walk(tables).at("DSDT");
  EXPECT_TRUE(contains(dsdt, aml::name("_S5_", aml::package({aml::integer(kAcpiS5SleepType),
                                                             aml::integer(kAcpiS5SleepType),
                                                             aml::integer(0), aml::integer(0)}))));
}

constexpr uint16_t kPmBase = 0x600;

AcpiConfig pc_config(uint32_t cpus = 2) {
  AcpiConfig config;
  config.vcpu_count = cpus;
  config.pm_base = kPmBase;
  return config;
}

// A Generic Address Structure at `offset`: address space, bit width, bit offset, access size,
// address (ACPI 6.4, 5.2.3.2).
void expect_gas(std::span<const uint8_t> table, size_t offset, uint8_t space, uint8_t bits,
                uint64_t address) {
  EXPECT_EQ(table[offset], space) << "GAS at " << offset;
  EXPECT_EQ(table[offset + 1], bits) << "GAS at " << offset;
  EXPECT_EQ(table[offset + 2], 0) << "GAS at " << offset;
  EXPECT_EQ(load<uint64_t>(table, offset + 4), address) << "GAS at " << offset;
}

// A PC booted through firmware has the PIIX4's fixed hardware: the FADT (ACPI 6.4, table 5.9)
// names its PM1a event and control blocks and PM timer where firmware put them, in both the
// legacy 32-bit fields and the extended ones, with the SCI on ISA IRQ 9 as QEMU's PIIX4 has it.
TEST(AcpiTables, APcFadtDescribesThePiix4PmBlock) {
  auto tables = build_acpi_tables(kBase, pc_config());
  auto found = walk(tables);
  for (const char* name : {"XSDT", "FACP", "APIC", "DSDT"})
    EXPECT_EQ(byte_sum(found.at(name)), 0) << name;
  auto fadt = found.at("FACP");
  ASSERT_EQ(fadt.size(), kFadtSize);
  uint32_t flags = load<uint32_t>(fadt, 112);
  EXPECT_FALSE(flags & (1u << 20)) << "not hardware-reduced";
  EXPECT_FALSE(flags & (1u << 4)) << "PWR_BUTTON clear: the fixed power button exists";
  EXPECT_TRUE(flags & (1u << 10)) << "RESET_REG_SUP";
  EXPECT_EQ(load<uint16_t>(fadt, 46), 9) << "SCI_INT";
  EXPECT_EQ(load<uint32_t>(fadt, 48), 0u) << "no SMI_CMD: always in ACPI mode";
  EXPECT_EQ(load<uint32_t>(fadt, 56), kPmBase) << "PM1a_EVT_BLK";
  EXPECT_EQ(load<uint32_t>(fadt, 60), 0u) << "PM1b_EVT_BLK";
  EXPECT_EQ(load<uint32_t>(fadt, 64), kPmBase + 4u) << "PM1a_CNT_BLK";
  EXPECT_EQ(load<uint32_t>(fadt, 76), kPmBase + 8u) << "PM_TMR_BLK";
  EXPECT_EQ(load<uint32_t>(fadt, 80), 0u) << "no GPE0_BLK";
  EXPECT_EQ(fadt[88], 4) << "PM1_EVT_LEN";
  EXPECT_EQ(fadt[89], 2) << "PM1_CNT_LEN";
  EXPECT_EQ(fadt[91], 4) << "PM_TMR_LEN";
  EXPECT_EQ(fadt[108], 0x32) << "CENTURY: the CMOS century byte";
  EXPECT_TRUE(load<uint16_t>(fadt, 109) & 1) << "IAPC_BOOT_ARCH: legacy devices";
  expect_gas(fadt, 116, 1, 8, 0xcf9);  // RESET_REG: PCI reset control
  EXPECT_EQ(fadt[128], 0x06) << "RESET_VALUE: reset CPU and system reset, as QEMU's";
  expect_gas(fadt, 148, 1, 32, kPmBase);      // X_PM1a_EVT_BLK
  expect_gas(fadt, 172, 1, 16, kPmBase + 4);  // X_PM1a_CNT_BLK
  expect_gas(fadt, 208, 1, 32, kPmBase + 8);  // X_PM_TMR_BLK
  for (size_t offset : {160u, 184u, 196u, 220u, 232u, 244u, 256u})
    EXPECT_EQ(load<uint64_t>(fadt, offset + 4), 0u) << "null register at " << offset;
}

TEST(AcpiTables, APcHasAFacsThatBothFadtFieldsPointAt) {
  auto tables = build_acpi_tables(kBase, pc_config());
  auto fadt = walk(tables).at("FACP");
  uint64_t facs = load<uint32_t>(fadt, 36);
  EXPECT_EQ(load<uint64_t>(fadt, 132), facs) << "FIRMWARE_CTRL and X_FIRMWARE_CTRL agree";
  ASSERT_GE(facs, kBase);
  ASSERT_LE(facs - kBase + 64, tables.blob.size());
  std::span<const uint8_t> table(tables.blob.data() + (facs - kBase), 64);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(table.data()), 4), "FACS");
  EXPECT_EQ(load<uint32_t>(table, 4), 64u);
  EXPECT_EQ(table[32], 2) << "version";
  // ACPI 6.4, 5.2.10: the FACS is 64-byte aligned. The relocatable tables start with it and
  // firmware allocates them 64-byte aligned (table_loader_test.cc checks the placement).
  auto relocatable = build_relocatable_acpi(pc_config());
  EXPECT_EQ(std::string(relocatable.tables.begin(), relocatable.tables.begin() + 4), "FACS");
  bool pointed_at_offset_zero = false;
  for (const auto& pointer : relocatable.pointers)
    if (pointer.in == RelocatableAcpi::Blob::tables &&
        load<uint32_t>(relocatable.tables, pointer.offset) == 0 && pointer.size == 4)
      pointed_at_offset_zero = true;
  EXPECT_TRUE(pointed_at_offset_zero) << "FIRMWARE_CTRL holds offset 0 until relocated";
}

TEST(AcpiTables, APcMadtDeclaresThe8259sAndALevelSciOverride) {
  auto tables = build_acpi_tables(kBase, pc_config(3));
  auto madt = walk(tables).at("APIC");
  EXPECT_EQ(load<uint32_t>(madt, 40) & 1, 1u) << "PCAT_COMPAT";
  int overrides = 0, lapics = 0;
  for (size_t offset = 44; offset + 2 <= madt.size(); offset += madt[offset + 1]) {
    ASSERT_GE(madt[offset + 1], 2);
    if (madt[offset] == 0) ++lapics;
    if (madt[offset] != 2) continue;
    ++overrides;
    ASSERT_EQ(madt[offset + 1], 10);
    EXPECT_EQ(madt[offset + 2], 0) << "ISA bus";
    EXPECT_EQ(madt[offset + 3], 9) << "source: IRQ 9";
    EXPECT_EQ(load<uint32_t>(madt, offset + 4), 9u) << "GSI 9";
    // MPS INTI flags: polarity 01 active high, trigger mode 11 level.
    EXPECT_EQ(load<uint16_t>(madt, offset + 8), 0x000d);
  }
  EXPECT_EQ(overrides, 1);
  EXPECT_EQ(lapics, 3);
  auto direct = build_acpi_tables(kBase, 3);
  auto direct_madt = walk(direct).at("APIC");
  EXPECT_EQ(direct_madt.size() + 10, madt.size()) << "the override is the only addition";
}

TEST(AcpiTables, APcDsdtHasTheFixedButtonAndSoftOffTypeZero) {
  auto tables = build_acpi_tables(kBase, pc_config());
  auto dsdt = walk(tables).at("DSDT");
  std::string body(reinterpret_cast<const char*>(dsdt.data()), dsdt.size());
  EXPECT_EQ(body.find("ACPI0013"), std::string::npos) << "no Generic Event Device";
  EXPECT_EQ(body.find("GED0"), std::string::npos);
  EXPECT_EQ(body.find("PWRB"), std::string::npos) << "the power button is the fixed one";
  // \_S5 with SLP_TYP 0, what QEMU's PIIX4 DSDT says and Piix4Pm powers off on.
  EXPECT_TRUE(contains(dsdt, aml::name("_S5_", aml::package({aml::integer(0), aml::integer(0),
                                                             aml::integer(0), aml::integer(0)}))));
  EXPECT_NE(body.find("COM1"), std::string::npos);
  EXPECT_NE(body.find("PCI0"), std::string::npos);
}

TEST(AcpiTables, ThePciWindowsAppearInTheRootBridgesResources) {
  AcpiConfig config = pc_config();
  config.pci.mmio32_start = 0x20000000;
  auto without = build_acpi_tables(kBase, config);
  auto dsdt = walk(without).at("DSDT");
  EXPECT_TRUE(contains(dsdt, aml::dword_memory(0x20000000, kPciMmioEnd - 1)));
  auto window64 = aml::qword_memory(0x800000000, 0xfffffffff);
  EXPECT_FALSE(contains(dsdt, window64));

  config.pci.mmio64_start = 0x800000000;  // 32 GiB up to 64 GiB
  config.pci.mmio64_end = 0x1000000000;
  auto with = build_acpi_tables(kBase, config);
  auto dsdt64 = walk(with).at("DSDT");
  EXPECT_TRUE(contains(dsdt64, window64));
  EXPECT_TRUE(contains(dsdt64, aml::dword_memory(0x20000000, kPciMmioEnd - 1)));
  EXPECT_EQ(byte_sum(dsdt64), 0);
}

TEST(AcpiTables, FitTheirAreaForTheLargestMachine) {
  auto tables = build_acpi_tables(kBase, kMaxVcpus);
  EXPECT_LE(tables.blob.size(), kAcpiTablesEnd - kAcpiTablesAddress);
}

}  // namespace
}  // namespace haven::arch::x86::acpi
