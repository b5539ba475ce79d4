#include "arch/x86/acpi/tables.h"

#include <string_view>

#include "arch/x86/acpi/aml.h"
#include "arch/x86/byte_writer.h"
#include "arch/x86/layout.h"
#include "base/byte_order.h"

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
constexpr uint32_t kFadtWbinvd = 1u << 0;
constexpr uint32_t kFadtProcC1 = 1u << 2;
constexpr uint32_t kFadtResetRegisterSupported = 1u << 10;
constexpr uint32_t kFadtHardwareReduced = 1u << 20;
constexpr uint16_t kBootArchLegacyDevices = 1u << 0;
constexpr uint16_t kBootArchVgaNotPresent = 1u << 2;
constexpr uint8_t kCmosCentury = 0x32;
constexpr uint8_t kSciIrq = 9;
constexpr uint8_t kPcSoftOffSleepType = 0;  // PIIX4's SLP_TYP for S5, as QEMU's
constexpr uint8_t kPcResetValue = 0x06;     // 0xCF9: reset CPU, system reset
constexpr size_t kFacsSize = 64;

constexpr uint8_t kAddressSpaceSystemIo = 1;
constexpr uint8_t kAccessByte = 1;

// MADT structure types.
constexpr uint8_t kMadtLocalApic = 0;
constexpr uint8_t kMadtIoApic = 1;
constexpr uint8_t kMadtSourceOverride = 2;
constexpr uint8_t kMadtLocalApicNmi = 4;
constexpr uint32_t kMadtPcatCompatible = 1u << 0;

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

// Sets the length; the checksum byte stays zero until the tables have their address.
std::vector<uint8_t> finish(ByteWriter& w) {
  w.patch_u32(kLengthOffset, static_cast<uint32_t>(w.size()));
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

// A Generic Address Structure for an I/O register block of `bits`, access size undefined (as
// the legacy FADT blocks it mirrors).
void io_block_register(ByteWriter& w, uint16_t port, uint8_t bits) {
  w.u8(kAddressSpaceSystemIo);
  w.u8(bits);
  w.u8(0);
  w.u8(0);
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

// The root bridge's windows: what the legacy devices and the chipset leave -- all I/O ports
// but the config ports, the PCI hole below the IOAPIC, and the 64-bit window when there is one.
acpi::aml::Bytes pci_resources(const PciWindows& windows) {
  namespace aml = acpi::aml;
  std::vector<aml::Bytes> resources = {
      aml::word_bus_number(0, 0), aml::io_port(kPciConfigPort, 8),
      aml::word_io(0x0000, kPciConfigPort - 1), aml::word_io(kPciConfigPort + 8, 0xffff),
      aml::dword_memory(static_cast<uint32_t>(windows.mmio32_start),
                        static_cast<uint32_t>(windows.mmio32_end - 1))};
  if (windows.mmio64_start)
    resources.push_back(aml::qword_memory(*windows.mmio64_start, windows.mmio64_end - 1));
  return aml::resource_template(resources);
}

std::vector<uint8_t> build_dsdt(const AcpiConfig& config) {
  namespace aml = acpi::aml;
  ByteWriter w;
  sdt_header(w, "DSDT", 2);
  // \_S5: the sleep type value the guest writes to power off (to Haven's sleep control
  // register, or the PIIX4's PM1a_CNT).
  uint8_t s5 = config.pm_base ? kPcSoftOffSleepType : kAcpiS5SleepType;
  w.append(aml::name("_S5_", aml::package({aml::integer(s5), aml::integer(s5), aml::integer(0),
                                           aml::integer(0)})));
  std::vector<aml::Bytes> devices = {
      aml::device("COM1",
                  {aml::name("_HID", aml::eisa_id("PNP0501")), aml::name("_UID", aml::integer(1)),
                   aml::name("_CRS", aml::resource_template({aml::io_port(kSerialPort, 8),
                                                             aml::irq_no_flags(kSerialIrq)}))}),
      // The PCI root bridge: without it an ACPI kernel scans no PCI bus.
      aml::device("PCI0",
                  {aml::name("_HID", aml::eisa_id("PNP0A03")), aml::name("_UID", aml::integer(0)),
                   aml::name("_CRS", pci_resources(config.pci)), pci_routing_table()}),
      // pvpanic: the guest reports a kernel panic by writing to this port.
      aml::device("PEVT",
                  {aml::name("_HID", aml::string("QEMU0001")),
                   aml::name("_CRS", aml::resource_template({aml::io_port(kPvpanicPort, 1)}))})};
  if (!config.pm_base) {
    // The power button (hardware-reduced ACPI has no fixed one): an edge on its interrupt
    // runs the Generic Event Device's _EVT, which notifies the button; the guest's button
    // driver then reports KEY_POWER, and its userspace shuts down. (A PC has the fixed one.)
    devices.push_back(aml::device(
        "PWRB", {aml::name("_HID", aml::eisa_id("PNP0C0C")), aml::name("_UID", aml::integer(0))}));
    devices.push_back(aml::device(
        "GED0", {aml::name("_HID", aml::string("ACPI0013")), aml::name("_UID", aml::integer(0)),
                 aml::name("_CRS", aml::resource_template({aml::edge_interrupt(kPowerButtonGsi)})),
                 aml::method("_EVT", 1, {aml::notify("PWRB", 0x80)})}));
  }
  w.append(aml::scope("\\_SB_", devices));
  return finish(w);
}

// The firmware ACPI control structure a full-ACPI OS expects (waking vector, global lock):
// all zero but its signature, length and version. It has no checksum.
std::vector<uint8_t> build_facs() {
  ByteWriter w;
  w.text("FACS", 4);
  w.u32(kFacsSize);
  w.zeros(24);  // hardware signature, waking vector, global lock, flags, 64-bit waking vector
  w.u8(2);      // version
  w.zeros(kFacsSize - w.size());
  return w.take();
}

// A PC's FADT (ACPI 6.4, 5.2.9): the PIIX4's PM1a event and control blocks and PM timer, SCI on
// IRQ 9, no SMI command port (always in ACPI mode), the fixed power button, C1 only, reset
// through the PCI reset control register.
std::vector<uint8_t> build_pc_fadt(uint64_t dsdt_address, uint64_t facs_address, uint16_t pm_base) {
  ByteWriter w;
  sdt_header(w, "FACP", 6);
  w.u32(static_cast<uint32_t>(facs_address));              // FIRMWARE_CTRL
  w.u32(static_cast<uint32_t>(dsdt_address));              // DSDT
  w.u8(0);                                                 // reserved
  w.u8(0);                                                 // preferred PM profile: unspecified
  w.u16(kSciIrq);                                          // SCI_INT
  w.u32(0);                                                // SMI_CMD: none, ACPI mode is always on
  w.zeros(4);                                              // ACPI_ENABLE .. PSTATE_CNT
  w.u32(pm_base);                                          // PM1a_EVT_BLK
  w.u32(0);                                                // PM1b_EVT_BLK
  w.u32(pm_base + 4u);                                     // PM1a_CNT_BLK
  w.u32(0);                                                // PM1b_CNT_BLK
  w.u32(0);                                                // PM2_CNT_BLK
  w.u32(pm_base + 8u);                                     // PM_TMR_BLK
  w.u32(0);                                                // GPE0_BLK
  w.u32(0);                                                // GPE1_BLK
  w.u8(4);                                                 // PM1_EVT_LEN
  w.u8(2);                                                 // PM1_CNT_LEN
  w.u8(0);                                                 // PM2_CNT_LEN
  w.u8(4);                                                 // PM_TMR_LEN
  w.zeros(4);                                              // GPE0/1 lengths, GPE1_BASE, CST_CNT
  w.u16(0x0fff);                                           // P_LVL2_LAT: no C2
  w.u16(0x0fff);                                           // P_LVL3_LAT: no C3
  w.zeros(4);                                              // FLUSH_SIZE, FLUSH_STRIDE
  w.zeros(4);                                              // DUTY_OFFSET, DUTY_WIDTH, DAY/MON_ALRM
  w.u8(kCmosCentury);                                      // CENTURY
  w.u16(kBootArchLegacyDevices | kBootArchVgaNotPresent);  // IAPC_BOOT_ARCH
  w.u8(0);                                                 // reserved
  w.u32(kFadtWbinvd | kFadtProcC1 | kFadtSleepButtonIsControlMethod | kFadtResetRegisterSupported);
  io_port_register(w, kPciConfigPort + 1);  // RESET_REG: 0xCF9
  w.u8(kPcResetValue);                      // RESET_VALUE
  w.u16(0);                                 // ARM_BOOT_ARCH
  w.u8(4);                                  // FADT minor version (6.4)
  w.u64(facs_address);                      // X_FIRMWARE_CTRL
  w.u64(dsdt_address);                      // X_DSDT
  io_block_register(w, pm_base, 32);        // X_PM1a_EVT_BLK
  null_register(w);                         // X_PM1b_EVT_BLK
  io_block_register(w, pm_base + 4u, 16);   // X_PM1a_CNT_BLK
  null_register(w);                         // X_PM1b_CNT_BLK
  null_register(w);                         // X_PM2_CNT_BLK
  io_block_register(w, pm_base + 8u, 32);   // X_PM_TMR_BLK
  null_register(w);                         // X_GPE0_BLK
  null_register(w);                         // X_GPE1_BLK
  null_register(w);                         // SLEEP_CONTROL_REG
  null_register(w);                         // SLEEP_STATUS_REG
  w.text("HAVEN", 8, '\0');                 // hypervisor vendor identity
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

std::vector<uint8_t> build_madt(uint32_t vcpu_count, bool pc) {
  ByteWriter w;
  sdt_header(w, "APIC", 5);
  w.u32(static_cast<uint32_t>(kLapicAddress));
  // Flags: a PC has the dual 8259 setup, which an OS must mask when it uses the IOAPIC.
  w.u32(pc ? kMadtPcatCompatible : 0);
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
  if (pc) {
    // The SCI, ISA IRQ 9, is level-triggered and active high (an ISA default would be edge).
    w.u8(kMadtSourceOverride);
    w.u8(10);
    w.u8(0);  // ISA bus
    w.u8(kSciIrq);
    w.u32(kSciIrq);
    w.u16(0x000d);  // polarity 01 (active high), trigger mode 11 (level)
  }
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
  return w.take();
}

size_t align_up(size_t value) {
  return (value + kTableAlignment - 1) / kTableAlignment * kTableAlignment;
}

}  // namespace

RelocatableAcpi build_relocatable_acpi(const AcpiConfig& config) {
  using Blob = RelocatableAcpi::Blob;
  RelocatableAcpi acpi;
  // The tables one after another, 16-byte aligned; the XSDT's size is known up front. Every
  // pointer holds its target's offset in the tables blob until the blob has an address.
  const bool pc = config.pm_base.has_value();
  auto dsdt = build_dsdt(config);
  auto madt = build_madt(config.vcpu_count, pc);
  // A PC's FACS first, 64-byte aligned as the blob is.
  const size_t facs_offset = 0;
  const size_t xsdt_offset = pc ? kFacsSize : 0;
  const size_t xsdt_size = kSdtHeaderSize + 2 * sizeof(uint64_t);
  const size_t fadt_offset = align_up(xsdt_offset + xsdt_size);
  const size_t madt_offset = align_up(fadt_offset + kFadtSize);
  const size_t dsdt_offset = align_up(madt_offset + madt.size());

  auto fadt =
      pc ? build_pc_fadt(dsdt_offset, facs_offset, *config.pm_base) : build_fadt(dsdt_offset);
  auto xsdt = build_xsdt({fadt_offset, madt_offset});
  acpi.rsdp = build_rsdp(xsdt_offset);

  acpi.tables.assign(dsdt_offset + dsdt.size(), 0);
  auto place = [&](size_t offset, const std::vector<uint8_t>& table) {
    std::copy(table.begin(), table.end(), acpi.tables.begin() + static_cast<ptrdiff_t>(offset));
  };
  if (pc) place(facs_offset, build_facs());
  place(xsdt_offset, xsdt);
  place(fadt_offset, fadt);
  place(madt_offset, madt);
  place(dsdt_offset, dsdt);

  auto u32 = [](size_t value) { return static_cast<uint32_t>(value); };
  acpi.pointers = {
      {Blob::rsdp, 24, 8, Blob::tables},                                       // XsdtAddress
      {Blob::tables, u32(xsdt_offset + kSdtHeaderSize), 8, Blob::tables},      // -> FADT
      {Blob::tables, u32(xsdt_offset + kSdtHeaderSize + 8), 8, Blob::tables},  // -> MADT
      {Blob::tables, u32(fadt_offset + 40), 4, Blob::tables},                  // DSDT
      {Blob::tables, u32(fadt_offset + 140), 8, Blob::tables},                 // X_DSDT
  };
  if (pc) {
    acpi.pointers.push_back({Blob::tables, u32(fadt_offset + 36), 4, Blob::tables});   // FACS
    acpi.pointers.push_back({Blob::tables, u32(fadt_offset + 132), 8, Blob::tables});  // X_
  }
  auto table_checksum = [&](size_t offset, size_t length) {
    return RelocatableAcpi::Checksum{Blob::tables, u32(offset + kChecksumOffset), u32(offset),
                                     u32(length)};
  };
  acpi.checksums = {
      table_checksum(dsdt_offset, dsdt.size()),
      table_checksum(madt_offset, madt.size()),
      table_checksum(fadt_offset, fadt.size()),
      table_checksum(xsdt_offset, xsdt.size()),
      {Blob::rsdp, 8, 0, 20},          // ACPI 1.0 checksum, first 20 bytes
      {Blob::rsdp, 32, 0, kRsdpSize},  // extended checksum
  };
  return acpi;
}

AcpiTables build_acpi_tables(uint64_t base_address, const AcpiConfig& config) {
  using Blob = RelocatableAcpi::Blob;
  auto acpi = build_relocatable_acpi(config);
  // The RSDP first, the tables after it; 64-byte aligned when they start with a FACS.
  constexpr size_t kFacsAlignment = 64;
  const size_t tables_offset =
      config.pm_base ? (acpi.rsdp.size() + kFacsAlignment - 1) / kFacsAlignment * kFacsAlignment
                     : align_up(acpi.rsdp.size());
  std::vector<uint8_t> blob(tables_offset + acpi.tables.size(), 0);
  std::copy(acpi.rsdp.begin(), acpi.rsdp.end(), blob.begin());
  std::copy(acpi.tables.begin(), acpi.tables.end(),
            blob.begin() + static_cast<ptrdiff_t>(tables_offset));
  auto blob_offset = [&](Blob which) { return which == Blob::rsdp ? size_t{0} : tables_offset; };
  for (const auto& pointer : acpi.pointers) {
    size_t at = blob_offset(pointer.in) + pointer.offset;
    uint64_t target = load_le(blob, at, pointer.size) + base_address + blob_offset(pointer.target);
    store_le(blob, at, pointer.size, target);
  }
  for (const auto& checksum : acpi.checksums) {
    size_t start = blob_offset(checksum.in) + checksum.start;
    blob[blob_offset(checksum.in) + checksum.offset] =
        checksum_byte(std::span(blob).subspan(start, checksum.length));
  }
  return {std::move(blob), base_address};
}

}  // namespace haven::arch::x86::acpi
