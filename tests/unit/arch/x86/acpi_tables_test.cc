#include "arch/x86/acpi/aml.h"
#include "arch/x86/acpi/tables.h"

#include <gtest/gtest.h>

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

TEST(AcpiTables, FitTheirAreaForTheLargestMachine) {
  auto tables = build_acpi_tables(kBase, kMaxVcpus);
  EXPECT_LE(tables.blob.size(), kAcpiTablesEnd - kAcpiTablesAddress);
}

}  // namespace
}  // namespace haven::arch::x86::acpi
