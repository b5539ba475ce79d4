#include "vmm/firmware_boot.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "arch/x86/acpi/table_loader.h"
#include "arch/x86/e820.h"

namespace haven::vmm {
namespace {

namespace x86 = arch::x86;

std::string text_of(const std::vector<uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

uint64_t le(const std::vector<uint8_t>& bytes, size_t offset, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) value |= uint64_t{bytes.at(offset + i)} << (8 * i);
  return value;
}

// QEMU's OpenFirmware paths (its get_fw_dev_path) as SeaBIOS's bootprio_find_* and OVMF's
// SetBootOrderFromQemu match them: a PCI device by its class name and slot in hex.
TEST(BootOrderFile, OnePathPerLineNulTerminated) {
  std::vector<BootTarget> targets = {{BootDevice::cdrom, 3, {}},
                                     {BootDevice::disk, 2, {}},
                                     {BootDevice::disk, 0x1a, {}},
                                     {BootDevice::floppy, 0, "floppyimg/dos.img"}};
  auto bytes = boot_order_file(targets);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes.back(), 0) << "OVMF wants the terminating NUL";
  EXPECT_EQ(text_of(bytes), std::string("/pci@i0cf8/scsi@3/channel@0/disk@0,0\n"
                                        "/pci@i0cf8/scsi@2/disk@0,0\n"
                                        "/pci@i0cf8/scsi@1a/disk@0,0\n"
                                        "/rom@floppyimg/dos.img") +
                                '\0');
}

TEST(BootOrderFile, AnEmptyOrderIsALoneNul) {
  EXPECT_EQ(boot_order_file({}), std::vector<uint8_t>{0});
  BootTarget disk{BootDevice::disk, 0x1f, {}};
  EXPECT_EQ(text_of(boot_order_file(std::span(&disk, 1))),
            std::string("/pci@i0cf8/scsi@1f/disk@0,0") + '\0')
      << "no newline after the last path";
}

FirmwareLayout layout_of(uint64_t memory, uint32_t bits = 36) {
  return {x86::ram_regions(memory), bits};
}

TEST(FirmwarePciWindows, TheHoleAboveLowRamAndAbove4GiBToThePhysicalLimit) {
  struct Case {
    uint64_t memory;
    uint32_t bits;
    uint64_t low_start, high_start, high_end;
  };
  for (const Case& c : {
           Case{512 * MiB, 36, 512 * MiB, 4 * GiB, 64 * GiB},
           Case{3 * GiB, 36, 3 * GiB, 4 * GiB, 64 * GiB},
           Case{6 * GiB, 36, 3 * GiB, 7 * GiB, 64 * GiB},
           Case{6 * GiB + 512 * MiB, 36, 3 * GiB, 8 * GiB, 64 * GiB},  // a GiB boundary
           Case{6 * GiB, 40, 3 * GiB, 7 * GiB, uint64_t{1} << 40},
           Case{6 * GiB, 48, 3 * GiB, 7 * GiB, uint64_t{1} << 48},
       }) {
    SCOPED_TRACE(::testing::Message() << c.memory / MiB << " MiB, " << c.bits << " bits");
    auto windows = firmware_pci_windows(layout_of(c.memory, c.bits));
    EXPECT_EQ(windows.mmio32_start, c.low_start);
    EXPECT_EQ(windows.mmio32_end, x86::kPciMmioEnd) << "up to the IOAPIC";
    ASSERT_TRUE(windows.mmio64_start);
    EXPECT_EQ(*windows.mmio64_start, c.high_start);
    EXPECT_EQ(windows.mmio64_end, c.high_end);
  }
}

TEST(FirmwarePciWindows, NoHighWindowWhenRamFillsTheAddressSpace) {
  auto windows = firmware_pci_windows(layout_of(61 * GiB, 36));  // RAM up to 62 GiB: 63-64 left
  ASSERT_TRUE(windows.mmio64_start);
  EXPECT_EQ(*windows.mmio64_start, 62 * GiB);
  windows = firmware_pci_windows(layout_of(64 * GiB, 36));  // RAM ends at 65 GiB
  EXPECT_FALSE(windows.mmio64_start);
}

TEST(FloppySizes, ExactlyTheFormatsSeaBiosKnows) {
  for (uint64_t size : {163840, 184320, 327680, 368640, 737280, 1228800, 1474560, 2949120})
    EXPECT_TRUE(is_floppy_size(size)) << size;
  for (uint64_t size : {0, 512, 1474559, 1474561, 1474560 + 512, 2949120 * 2, 1440 * 1000})
    EXPECT_FALSE(is_floppy_size(size)) << size;
}

// The content of a BIOS guest with 6 GiB, 4 CPUs, a disk at slot 2 and a floppy.
FirmwareInputs bios_inputs() {
  FirmwareInputs inputs;
  inputs.firmware = Firmware::bios;
  inputs.cpus = 4;
  inputs.layout = layout_of(6 * GiB);
  inputs.boot = {{BootDevice::floppy, 0, "floppyimg/dos.img"}, {BootDevice::disk, 2, {}}};
  inputs.floppy = std::vector<uint8_t>(1474560, 0xf6);
  inputs.smbios_anchor = {'_', 'S', 'M', '3', '_'};
  inputs.smbios_tables = {1, 2, 3};
  return inputs;
}

std::map<std::string, std::vector<uint8_t>> files_of(const FwCfgContent& content) {
  std::map<std::string, std::vector<uint8_t>> files;
  for (const auto& [name, bytes] : content.files) {
    EXPECT_FALSE(files.count(name)) << name << " twice";
    files[name] = bytes;
  }
  return files;
}

TEST(FwCfgContent, CpuCountItems) {
  auto content = build_fw_cfg_content(bios_inputs());
  std::map<uint16_t, std::vector<uint8_t>> items(content.items.begin(), content.items.end());
  EXPECT_EQ(items.size(), 2u);
  // FW_CFG_NB_CPUS (0x05) and FW_CFG_MAX_CPUS (0x0f), 16-bit little-endian.
  EXPECT_EQ(items.at(0x05), (std::vector<uint8_t>{4, 0}));
  EXPECT_EQ(items.at(0x0f), (std::vector<uint8_t>{4, 0}));
}

TEST(FwCfgContent, E820ListsKvmsPagesAndTheRam) {
  auto files = files_of(build_fw_cfg_content(bios_inputs()));
  const auto& e820 = files.at("etc/e820");
  // struct e820_entry {u64 address, u64 length, u32 type}, packed.
  ASSERT_EQ(e820.size(), 3 * 20u);
  struct Entry {
    uint64_t address, size, type;
  };
  std::vector<Entry> want = {
      {0xfeffc000, 0x4000, 2},  // KVM's identity-map page and real-mode TSS (3 pages)
      {0, 3 * GiB, 1},
      {4 * GiB, 3 * GiB, 1},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(le(e820, 20 * i, 8), want[i].address) << i;
    EXPECT_EQ(le(e820, 20 * i + 8, 8), want[i].size) << i;
    EXPECT_EQ(le(e820, 20 * i + 16, 4), want[i].type) << i;
  }
  FirmwareInputs small = bios_inputs();
  small.layout = layout_of(512 * MiB);
  auto small_e820 = files_of(build_fw_cfg_content(small)).at("etc/e820");
  ASSERT_EQ(small_e820.size(), 2 * 20u) << "nothing above 4 GiB";
  EXPECT_EQ(le(small_e820, 28, 8), 512 * MiB);
}

TEST(FwCfgContent, BiosGetsBootOrderAcpiSmbiosSerialConsoleAndFloppy) {
  auto inputs = bios_inputs();
  auto files = files_of(build_fw_cfg_content(inputs));
  EXPECT_EQ(files.at("bootorder"), boot_order_file(inputs.boot));
  auto loader = x86::acpi::build_table_loader(x86::acpi::build_relocatable_acpi(
      {.vcpu_count = 4, .pci = firmware_pci_windows(inputs.layout), .pm_base = kDefaultPmBase}));
  EXPECT_EQ(files.at("etc/table-loader"), loader.loader);
  EXPECT_EQ(files.at("etc/acpi/rsdp"), loader.rsdp);
  EXPECT_EQ(files.at("etc/acpi/tables"), loader.tables);
  EXPECT_EQ(files.at("etc/smbios/smbios-anchor"), inputs.smbios_anchor);
  EXPECT_EQ(files.at("etc/smbios/smbios-tables"), inputs.smbios_tables);
  EXPECT_EQ(files.at("etc/sercon-port"), (std::vector<uint8_t>{0xf8, 0x03}));
  // SeaBIOS's boot_fail: (u32)-1 waits for ever instead of rebooting to try again.
  EXPECT_EQ(files.at("etc/boot-fail-wait"), (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(files.at("floppyimg/dos.img"), *inputs.floppy);
  EXPECT_EQ(files.size(), 10u);
}

TEST(FwCfgContent, UefiGetsNoSeaBiosFiles) {
  auto inputs = bios_inputs();
  inputs.firmware = Firmware::uefi;
  auto files = files_of(build_fw_cfg_content(inputs));
  for (const char* name : {"etc/sercon-port", "etc/boot-fail-wait", "floppyimg/dos.img"})
    EXPECT_FALSE(files.count(name)) << name;
  for (const char* name : {"etc/e820", "bootorder", "etc/table-loader", "etc/acpi/rsdp",
                           "etc/acpi/tables", "etc/smbios/smbios-anchor"})
    EXPECT_TRUE(files.count(name)) << name;
}

TEST(FwCfgContent, TheFloppyImageOnlyWithAFloppyToBoot) {
  auto inputs = bios_inputs();
  inputs.floppy.reset();
  EXPECT_FALSE(files_of(build_fw_cfg_content(inputs)).count("floppyimg/dos.img"));
  inputs = bios_inputs();
  inputs.boot = {{BootDevice::disk, 2, {}}};  // an image, but no floppy in the boot list
  auto files = files_of(build_fw_cfg_content(inputs));
  for (const auto& [name, bytes] : files) EXPECT_FALSE(name.starts_with("floppyimg/")) << name;
}

TEST(FwCfgContent, NoSmbiosFilesWithoutTables) {
  auto inputs = bios_inputs();
  inputs.smbios_anchor.clear();
  inputs.smbios_tables.clear();
  auto files = files_of(build_fw_cfg_content(inputs));
  EXPECT_FALSE(files.count("etc/smbios/smbios-anchor"));
  EXPECT_FALSE(files.count("etc/smbios/smbios-tables"));
}

TEST(FwCfgContent, FileNamesFitFwCfgsDirectory) {
  for (const auto& [name, bytes] : build_fw_cfg_content(bios_inputs()).files)
    EXPECT_LE(name.size(), 55u) << name;
}

// The tables are made again when firmware reads them, for the PM base it programmed: fw_cfg's
// directory already gave their size, so only the addresses may change.
TEST(AcpiTablesFile, AnotherPmBaseChangesOnlyThePmAddresses) {
  FirmwareInputs inputs = bios_inputs();
  auto ovmf = acpi_tables_file(inputs);
  EXPECT_EQ(ovmf, files_of(build_fw_cfg_content(inputs)).at("etc/acpi/tables"));
  inputs.pm_base = 0x600;
  auto seabios = acpi_tables_file(inputs);
  ASSERT_EQ(seabios.size(), ovmf.size());
  std::string text(ovmf.begin(), ovmf.end());
  size_t fadt = text.find("FACP");
  ASSERT_NE(fadt, std::string::npos);
  // PM1a_EVT_BLK, PM1a_CNT_BLK, PM_TMR_BLK and the addresses of their extended forms.
  std::vector<std::pair<size_t, size_t>> pm_fields = {{56, 4},      {64, 4},      {76, 4},
                                                      {148 + 4, 8}, {172 + 4, 8}, {208 + 4, 8}};
  size_t differing = 0;
  for (size_t i = 0; i < ovmf.size(); ++i) {
    if (ovmf[i] == seabios[i]) continue;
    ++differing;
    bool in_pm_field = false;
    for (auto [offset, width] : pm_fields)
      in_pm_field |= i >= fadt + offset && i < fadt + offset + width;
    EXPECT_TRUE(in_pm_field) << "byte " << i << " (FADT + " << i - fadt << ") changed";
  }
  EXPECT_EQ(differing, 6u) << "the high byte of each of the six addresses";
  auto value = [&](const std::vector<uint8_t>& tables, size_t offset) {
    return le(tables, fadt + offset, 4);
  };
  EXPECT_EQ(value(seabios, 56), 0x600u);
  EXPECT_EQ(value(seabios, 64), 0x604u);
  EXPECT_EQ(value(seabios, 76), 0x608u);
  EXPECT_EQ(value(ovmf, 56), kDefaultPmBase);
}

std::map<uint8_t, uint8_t> cmos_of(uint64_t memory, uint32_t cpus) {
  auto ram = x86::ram_regions(memory);
  std::map<uint8_t, uint8_t> bytes;
  for (auto [index, value] : cmos_firmware_bytes(ram, cpus)) {
    EXPECT_FALSE(bytes.count(index)) << "index " << int{index} << " twice";
    bytes[index] = value;
  }
  return bytes;
}

uint32_t cmos16(const std::map<uint8_t, uint8_t>& bytes, uint8_t index) {
  return bytes.at(index) | bytes.at(static_cast<uint8_t>(index + 1)) << 8;
}

// The PC/AT CMOS map as QEMU's pc_cmos_init fills it (SeaBIOS and OVMF read the sizes there
// when fw_cfg lacks them; SeaBIOS counts CPUs from 0x5f).
TEST(CmosFirmwareBytes, MemorySizesAndCpus) {
  struct Case {
    uint64_t memory;
    uint32_t extended_kib, above_16m, above_4g;
  };
  for (const Case& c : {
           Case{512 * MiB, 0xffff, (512 - 16) * 16, 0},  // 511 MiB of KiB: capped
           Case{3 * GiB, 0xffff, (3072 - 16) * 16, 0},
           Case{6 * GiB, 0xffff, (3072 - 16) * 16, 3 * 1024 * 16},
           Case{32 * MiB, 31 * 1024, 16 * 16, 0},
       }) {
    SCOPED_TRACE(c.memory / MiB);
    auto bytes = cmos_of(c.memory, 4);
    EXPECT_EQ(cmos16(bytes, 0x15), 640u) << "base memory, KiB";
    EXPECT_EQ(cmos16(bytes, 0x17), c.extended_kib);
    EXPECT_EQ(cmos16(bytes, 0x30), c.extended_kib);
    EXPECT_EQ(cmos16(bytes, 0x34), c.above_16m) << "64 KiB units";
    EXPECT_EQ(bytes.at(0x5b) | bytes.at(0x5c) << 8 | bytes.at(0x5d) << 16, c.above_4g);
    EXPECT_EQ(bytes.at(0x5f), 3) << "CPUs less one";
    EXPECT_EQ(bytes.at(0x14), 0x02) << "equipment: FPU, no floppy drives";
    EXPECT_EQ(bytes.at(0x10), 0x00);
  }
  auto big = cmos_of(1021 * GiB + 3 * GiB, 1);  // 1021 GiB above 4 GiB
  EXPECT_EQ(big.at(0x5b) | big.at(0x5c) << 8 | big.at(0x5d) << 16, 1021u * 1024 * 16);
  EXPECT_EQ(big.at(0x5f), 0);
}

TEST(CmosFirmwareBytes, AllInPlainCmosRam) {
  // CmosRtc::set_nvram ignores the clock and status registers; none of these may be one.
  for (auto [index, value] : cmos_firmware_bytes(x86::ram_regions(6 * GiB), 254)) {
    EXPECT_GT(index, 0x0d) << int{index};
    EXPECT_LT(index, 0x80) << int{index};
    EXPECT_NE(index, 0x32) << "the century";
  }
}

}  // namespace
}  // namespace haven::vmm
