#include "arch/x86/acpi/tables.h"

#include <string_view>

#include "arch/x86/acpi/aml.h"
#include "arch/x86/byte_writer.h"
#include "arch/x86/layout.h"

namespace haven::arch::x86::acpi {
namespace {

constexpr std::string_view kOemId = "HAVEN ";
constexpr std::string_view kOemTableId = "HAVENVM ";
constexpr uint32_t kCreatorId = 0x4e564148;  // "HAVN"
constexpr size_t kChecksumOffset = 9;
constexpr size_t kLengthOffset = 4;
constexpr size_t kTableAlignment = 16;

// FADT flags (ACPI 6.4 table 5.10) and IA-PC boot architecture flags (table 5.11).
constexpr uint32_t kFadtPowerButtonIsControlMethod = 1u << 4;
constexpr uint32_t kFadtSleepButtonIsControlMethod = 1u << 5;
constexpr uint32_t kFadtResetRegisterSupported = 1u << 10;
constexpr uint32_t kFadtHardwareReduced = 1u << 20;
constexpr uint16_t kBootArchVgaNotPresent = 1u << 2;

constexpr uint8_t kAddressSpaceSystemIo = 1;
constexpr uint8_t kAccessByte = 1;

// MADT structure types.
constexpr uint8_t kMadtLocalApic = 0;
constexpr uint8_t kMadtIoApic = 1;
constexpr uint8_t kMadtLocalApicNmi = 4;

void sdt_header(ByteWriter& w, std::string_view signature, uint8_t revision) {
  w.text(signature, 4);
  w.u32(0);  // length, patched by finish()
  w.u8(revision);
  w.u8(0);  // checksum, patched by finish()
  w.text(kOemId, 6);
  w.text(kOemTableId, 8);
  w.u32(1);  // OEM revision
  w.u32(kCreatorId);
  w.u32(1);  // creator revision
}

std::vector<uint8_t> finish(ByteWriter& w) {
  w.patch_u32(kLengthOffset, static_cast<uint32_t>(w.size()));
  w.patch_u8(kChecksumOffset, checksum_byte(w.bytes()));
  return w.take();
}

// A Generic Address Structure for one byte-wide I/O port.
void io_port_register(ByteWriter& w, uint16_t port) {
  w.u8(kAddressSpaceSystemIo);
  w.u8(8);  // bit width
  w.u8(0);  // bit offset
  w.u8(kAccessByte);
  w.u64(port);
}

void null_register(ByteWriter& w) {
  w.zeros(12);
}

// _PRT: INTA# of every slot on bus 0 to its IOAPIC input (source 0: a global interrupt).
acpi::aml::Bytes pci_routing_table() {
  namespace aml = acpi::aml;
  std::vector<aml::Bytes> entries;
  for (uint32_t slot = 1; slot < 32; ++slot)
    entries.push_back(aml::package({aml::integer(uint64_t{slot} << 16 | 0xffff), aml::integer(0),
                                    aml::integer(0), aml::integer(pci_intx_gsi(slot))}));
  return aml::name("_PRT", aml::package(entries));
}

std::vector<uint8_t> build_dsdt() {
  namespace aml = acpi::aml;
  ByteWriter w;
  sdt_header(w, "DSDT", 2);
  // \_S5: the sleep type value the guest writes to the sleep control register to power off.
  w.append(aml::name("_S5_",
                     aml::package({aml::integer(kAcpiS5SleepType), aml::integer(kAcpiS5SleepType),
                                   aml::integer(0), aml::integer(0)})));
  w.append(aml::scope(
      "\\_SB_",
      {aml::device("COM1",
                   {aml::name("_HID", aml::eisa_id("PNP0501")), aml::name("_UID", aml::integer(1)),
                    aml::name("_CRS", aml::resource_template({aml::io_port(kSerialPort, 8),
                                                              aml::irq_no_flags(kSerialIrq)}))}),
       // The PCI root bridge: without it an ACPI kernel scans no PCI bus. Its windows are what
       // the legacy devices and the chipset leave: all I/O ports but the config ports, and the
       // PCI hole below the IOAPIC.
       aml::device(
           "PCI0",
           {aml::name("_HID", aml::eisa_id("PNP0A03")), aml::name("_UID", aml::integer(0)),
            aml::name("_CRS", aml::resource_template(
                                  {aml::word_bus_number(0, 0), aml::io_port(kPciConfigPort, 8),
                                   aml::word_io(0x0000, kPciConfigPort - 1),
                                   aml::word_io(kPciConfigPort + 8, 0xffff),
                                   aml::dword_memory(kPciHoleStart, kPciMmioEnd - 1)})),
            pci_routing_table()}),
       // The power button (hardware-reduced ACPI has no fixed one): an edge on its interrupt
       // runs the Generic Event Device's _EVT, which notifies the button; the guest's
       // button driver then reports KEY_POWER, and its userspace shuts down.
       aml::device("PWRB", {aml::name("_HID", aml::eisa_id("PNP0C0C")),
                            aml::name("_UID", aml::integer(0))}),
       aml::device(
           "GED0",
           {aml::name("_HID", aml::string("ACPI0013")), aml::name("_UID", aml::integer(0)),
            aml::name("_CRS", aml::resource_template({aml::edge_interrupt(kPowerButtonGsi)})),
            aml::method("_EVT", 1, {aml::notify("PWRB", 0x80)})}),
       // pvpanic: the guest reports a kernel panic by writing to this port.
       aml::device("PEVT",
                   {aml::name("_HID", aml::string("QEMU0001")),
                    aml::name("_CRS", aml::resource_template({aml::io_port(kPvpanicPort, 1)}))})}));
  return finish(w);
}

std::vector<uint8_t> build_fadt(uint64_t dsdt_address) {
  ByteWriter w;
  sdt_header(w, "FACP", 6);
  w.u32(0);                                    // FIRMWARE_CTRL: no FACS
  w.u32(static_cast<uint32_t>(dsdt_address));  // DSDT
  w.u8(0);                                     // reserved
  w.u8(0);                                     // preferred PM profile: unspecified
  w.u16(0);                                    // SCI_INT: none in hardware-reduced mode
  w.u32(0);                                    // SMI_CMD
  w.zeros(4);                                  // ACPI_ENABLE .. PSTATE_CNT
  w.zeros(8 * 4);                              // PM1a..GPE1 block addresses
  w.zeros(8);                                  // their lengths, GPE1_BASE, CST_CNT
  w.zeros(8);                                  // P_LVL2/3 latency, FLUSH_SIZE/STRIDE
  w.zeros(5);                                  // DUTY_OFFSET .. CENTURY
  w.u16(kBootArchVgaNotPresent);               // IAPC_BOOT_ARCH
  w.u8(0);                                     // reserved
  w.u32(kFadtHardwareReduced | kFadtResetRegisterSupported | kFadtPowerButtonIsControlMethod |
        kFadtSleepButtonIsControlMethod);
  io_port_register(w, kAcpiResetPort);           // RESET_REG
  w.u8(kAcpiResetValue);                         // RESET_VALUE
  w.u16(0);                                      // ARM_BOOT_ARCH
  w.u8(4);                                       // FADT minor version (6.4)
  w.u64(0);                                      // X_FIRMWARE_CTRL
  w.u64(dsdt_address);                           // X_DSDT
  for (int i = 0; i < 8; ++i) null_register(w);  // X_PM1a_EVT_BLK .. X_GPE1_BLK
  io_port_register(w, kAcpiSleepControlPort);    // SLEEP_CONTROL_REG
  io_port_register(w, kAcpiSleepStatusPort);     // SLEEP_STATUS_REG
  w.text("HAVEN", 8, '\0');                      // hypervisor vendor identity
  return finish(w);
}

std::vector<uint8_t> build_madt(uint32_t vcpu_count) {
  ByteWriter w;
  sdt_header(w, "APIC", 5);
  w.u32(static_cast<uint32_t>(kLapicAddress));
  w.u32(0);  // flags: no dual 8259 setup to disable
  for (uint32_t cpu = 0; cpu < vcpu_count; ++cpu) {
    w.u8(kMadtLocalApic);
    w.u8(8);
    w.u8(static_cast<uint8_t>(cpu));  // ACPI processor UID
    w.u8(static_cast<uint8_t>(cpu));  // APIC id
    w.u32(1);                         // enabled
  }
  w.u8(kMadtIoApic);
  w.u8(12);
  w.u8(static_cast<uint8_t>(vcpu_count));  // IOAPIC id, after the CPUs'
  w.u8(0);
  w.u32(static_cast<uint32_t>(kIoapicAddress));
  w.u32(0);  // global system interrupt base
  w.u8(kMadtLocalApicNmi);
  w.u8(6);
  w.u8(0xff);  // all processors
  w.u16(0);    // flags: conform to the bus
  w.u8(1);     // LINT1
  return finish(w);
}

std::vector<uint8_t> build_xsdt(std::initializer_list<uint64_t> tables) {
  ByteWriter w;
  sdt_header(w, "XSDT", 1);
  for (uint64_t table : tables) w.u64(table);
  return finish(w);
}

std::vector<uint8_t> build_rsdp(uint64_t xsdt_address) {
  ByteWriter w;
  w.text("RSD PTR ", 8);
  w.u8(0);  // checksum of the first 20 bytes
  w.text(kOemId, 6);
  w.u8(2);   // revision: ACPI 2.0+
  w.u32(0);  // no RSDT
  w.u32(kRsdpSize);
  w.u64(xsdt_address);
  w.u8(0);  // extended checksum, of all 36 bytes
  w.zeros(3);
  w.patch_u8(8, checksum_byte(std::span(w.bytes()).first(20)));
  w.patch_u8(32, checksum_byte(w.bytes()));
  return w.take();
}

size_t align_up(size_t value) {
  return (value + kTableAlignment - 1) / kTableAlignment * kTableAlignment;
}

}  // namespace

AcpiTables build_acpi_tables(uint64_t base_address, uint32_t vcpu_count) {
  // Place the tables one after another, 16-byte aligned; the XSDT's size is known up front.
  auto dsdt = build_dsdt();
  auto madt = build_madt(vcpu_count);
  const size_t xsdt_offset = align_up(kRsdpSize);
  const size_t xsdt_size = kSdtHeaderSize + 2 * sizeof(uint64_t);
  const size_t fadt_offset = align_up(xsdt_offset + xsdt_size);
  const size_t madt_offset = align_up(fadt_offset + kFadtSize);
  const size_t dsdt_offset = align_up(madt_offset + madt.size());

  auto fadt = build_fadt(base_address + dsdt_offset);
  auto xsdt = build_xsdt({base_address + fadt_offset, base_address + madt_offset});
  auto rsdp = build_rsdp(base_address + xsdt_offset);

  std::vector<uint8_t> blob(dsdt_offset + dsdt.size(), 0);
  auto place = [&blob](size_t offset, const std::vector<uint8_t>& table) {
    std::copy(table.begin(), table.end(), blob.begin() + static_cast<ptrdiff_t>(offset));
  };
  place(0, rsdp);
  place(xsdt_offset, xsdt);
  place(fadt_offset, fadt);
  place(madt_offset, madt);
  place(dsdt_offset, dsdt);
  return {std::move(blob), base_address};
}

}  // namespace haven::arch::x86::acpi
