#include "vmm/firmware_boot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "arch/x86/acpi/table_loader.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "base/atomic_file.h"
#include "base/sys.h"
#include "devices/firmware/fw_cfg.h"
#include "firmware/boot_media.h"

namespace haven::vmm {
namespace {

namespace x86 = arch::x86;
using devices::firmware::FwCfg;
using devices::firmware::le_bytes;

constexpr size_t kMaxNvramSize = 16 * MiB;
constexpr uint16_t kSerialConsolePort = 0x3f8;
// SeaBIOS: never reboot on its own after "No bootable device." (Haven stops the guest with a
// clear message instead: vmm/boot_watch.h).
constexpr uint32_t kBootFailNoRetry = 0xffffffff;

std::string firmware_root() {
  const char* dir = std::getenv("HAVEN_FIRMWARE_DIR");
  return dir && *dir ? dir : "/usr/share";
}

Result<void> check_file(const std::string& path, std::string_view package) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode))
    return make_error(
        "firmware file {} is missing (install Debian's '{}' package: apt-get install {})", path,
        package, package);
  if (::access(path.c_str(), R_OK) != 0) return errno_error("firmware file {}", path);
  return {};
}

uint64_t align_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

void append_e820(std::vector<uint8_t>& out, uint64_t address, uint64_t size, x86::E820Type type) {
  auto add = [&out](uint64_t value, size_t width) {
    auto bytes = le_bytes(value, width);
    out.insert(out.end(), bytes.begin(), bytes.end());
  };
  add(address, 8);
  add(size, 8);
  add(static_cast<uint32_t>(type), 4);
}

}  // namespace

Result<FirmwareFiles> find_firmware_files(Firmware firmware) {
  std::string root = firmware_root();
  FirmwareFiles files;
  if (firmware == Firmware::bios) {
    files.code = root + "/seabios/bios-256k.bin";
    TRY(check_file(files.code, "seabios"));
  } else if (firmware == Firmware::uefi) {
    files.code = root + "/OVMF/OVMF_CODE_4M.fd";
    files.vars_template = root + "/OVMF/OVMF_VARS_4M.fd";
    TRY(check_file(files.code, "ovmf"));
    TRY(check_file(files.vars_template, "ovmf"));
  } else {
    return make_error("no firmware: the guest boots its kernel directly");
  }
  return files;
}

Result<void> prepare_nvram(const std::string& path, const std::string& template_path) {
  struct stat wanted {};
  if (::stat(template_path.c_str(), &wanted) != 0)
    return errno_error("UEFI variable store template {}", template_path);
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISREG(existing.st_mode))
      return make_error("nvram {}: not a regular file (nor may it be a symbolic link)", path);
    if (existing.st_size != wanted.st_size)
      return make_error(
          "nvram {}: {} bytes, but this OVMF's variable store ({}) has {}: a store of another "
          "firmware build",
          path, existing.st_size, template_path, wanted.st_size);
    return {};
  }
  if (errno != ENOENT) return errno_error("nvram {}", path);
  // A new store: the template's bytes, all or nothing.
  auto bytes = TRY(sys::read_file(template_path, kMaxNvramSize));
  return with_context(write_file_atomic(path, bytes, /*exclusive=*/true, 0600), "nvram {}", path);
}

std::vector<uint8_t> boot_order_file(std::span<const BootTarget> targets) {
  std::string text;
  for (const BootTarget& target : targets) {
    if (!text.empty()) text += '\n';
    switch (target.kind) {
      case BootDevice::disk:
        text += fmt::format("/pci@i0cf8/scsi@{:x}/disk@0,0", target.pci_slot);
        break;
      case BootDevice::cdrom:
        text += fmt::format("/pci@i0cf8/scsi@{:x}/channel@0/disk@0,0", target.pci_slot);
        break;
      case BootDevice::floppy:
        text += "/rom@" + target.floppy_name;
        break;
    }
  }
  std::vector<uint8_t> bytes(text.begin(), text.end());
  bytes.push_back(0);  // OVMF requires the terminating NUL
  return bytes;
}

arch::x86::acpi::PciWindows firmware_pci_windows(const FirmwareLayout& layout) {
  arch::x86::acpi::PciWindows windows;
  uint64_t low_end = 0, high_end = x86::kPciHoleEnd;
  for (const memory::RegionSpec& region : layout.ram) {
    uint64_t end = region.start.value() + region.size;
    if (region.start.value() < x86::kPciHoleEnd)
      low_end = std::max(low_end, end);
    else
      high_end = std::max(high_end, end);
  }
  windows.mmio32_start = low_end;
  windows.mmio32_end = x86::kPciMmioEnd;
  uint64_t start = align_up(high_end, GiB);
  uint64_t end = layout.physical_address_bits >= 64 ? ~uint64_t{0}
                                                    : uint64_t{1} << layout.physical_address_bits;
  if (start < end) {
    windows.mmio64_start = start;
    windows.mmio64_end = end;
  }
  return windows;
}

bool is_floppy_size(uint64_t bytes) {
  static constexpr std::array<uint64_t, 8> kSizes = {163840, 184320,  327680,  368640,
                                                     737280, 1228800, 1474560, 2949120};
  return std::find(kSizes.begin(), kSizes.end(), bytes) != kSizes.end();
}

namespace {

x86::acpi::RelocatableAcpi relocatable_acpi(const FirmwareInputs& inputs) {
  return x86::acpi::build_relocatable_acpi({.vcpu_count = inputs.cpus,
                                            .pci = firmware_pci_windows(inputs.layout),
                                            .pm_base = inputs.pm_base});
}

}  // namespace

std::vector<uint8_t> acpi_tables_file(const FirmwareInputs& inputs) {
  return x86::acpi::build_table_loader(relocatable_acpi(inputs)).tables;
}

FwCfgContent build_fw_cfg_content(const FirmwareInputs& inputs) {
  FwCfgContent content;
  auto cpus = le_bytes(inputs.cpus, 2);
  content.items.emplace_back(FwCfg::kCpuCountKey, cpus);
  content.items.emplace_back(FwCfg::kMaxCpusKey, cpus);

  // The memory map: KVM's identity-map and TSS pages reserved, RAM below and above the hole.
  // Firmware makes the BIOS-era holes below 1 MiB itself.
  std::vector<uint8_t> e820;
  constexpr uint64_t kKvmPagesEnd = x86::kTssAddress + 3 * 4096;
  append_e820(e820, x86::kIdentityMapAddress, kKvmPagesEnd - x86::kIdentityMapAddress,
              x86::E820Type::reserved);
  for (const memory::RegionSpec& region : inputs.layout.ram)
    append_e820(e820, region.start.value(), region.size, x86::E820Type::ram);
  content.files.emplace_back("etc/e820", std::move(e820));

  content.files.emplace_back("bootorder", boot_order_file(inputs.boot));
  auto loader = x86::acpi::build_table_loader(relocatable_acpi(inputs));
  content.files.emplace_back(x86::acpi::kLoaderFile, std::move(loader.loader));
  content.files.emplace_back(x86::acpi::kRsdpFile, std::move(loader.rsdp));
  content.files.emplace_back(x86::acpi::kTablesFile, std::move(loader.tables));
  if (!inputs.smbios_tables.empty()) {
    content.files.emplace_back("etc/smbios/smbios-anchor", inputs.smbios_anchor);
    content.files.emplace_back("etc/smbios/smbios-tables", inputs.smbios_tables);
  }
  if (inputs.firmware == Firmware::bios) {
    // SeaBIOS: its console on the serial port (OVMF puts one there by itself).
    content.files.emplace_back("etc/sercon-port", le_bytes(kSerialConsolePort, 2));
    content.files.emplace_back("etc/boot-fail-wait", le_bytes(kBootFailNoRetry, 4));
    if (inputs.floppy)
      for (const BootTarget& target : inputs.boot)
        if (target.kind == BootDevice::floppy)
          content.files.emplace_back(target.floppy_name, *inputs.floppy);
  }
  return content;
}

std::vector<std::pair<uint8_t, uint8_t>> cmos_firmware_bytes(
    std::span<const memory::RegionSpec> ram, uint32_t cpus) {
  uint64_t low = 0, high = 0;
  for (const memory::RegionSpec& region : ram) {
    if (region.start.value() < x86::kPciHoleEnd)
      low = std::max(low, region.start.value() + region.size);
    else
      high += region.size;
  }
  std::vector<std::pair<uint8_t, uint8_t>> bytes;
  auto put16 = [&](uint8_t index, uint64_t value) {
    value = std::min<uint64_t>(value, 0xffff);
    bytes.emplace_back(index, static_cast<uint8_t>(value));
    bytes.emplace_back(static_cast<uint8_t>(index + 1), static_cast<uint8_t>(value >> 8));
  };
  // The PC/AT CMOS map (as QEMU's pc_cmos_init fills it): base memory in KiB, extended memory
  // above 1 MiB in KiB (twice), memory above 16 MiB in 64 KiB units, above 4 GiB in 64 KiB
  // units (three bytes), the number of CPUs less one.
  put16(0x15, 640);
  uint64_t extended = low > MiB ? (low - MiB) / KiB : 0;
  put16(0x17, extended);
  put16(0x30, extended);
  put16(0x34, low > 16 * MiB ? (low - 16 * MiB) / (64 * KiB) : 0);
  uint64_t above_4g = high / (64 * KiB);
  bytes.emplace_back(0x5b, static_cast<uint8_t>(above_4g));
  bytes.emplace_back(0x5c, static_cast<uint8_t>(above_4g >> 8));
  bytes.emplace_back(0x5d, static_cast<uint8_t>(above_4g >> 16));
  bytes.emplace_back(0x5f, static_cast<uint8_t>(cpus > 256 ? 0 : cpus - 1));
  bytes.emplace_back(0x10, 0x00);  // no floppy drives on a controller
  bytes.emplace_back(0x14, 0x02);  // equipment: an FPU, no floppy drives
  return bytes;
}

std::string describe_boot_media(const VmConfig& config) {
  std::string firmware = firmware_name(config.firmware);
  std::vector<std::string> reasons;
  bool any_bootable = false;
  auto inspect = [&](const std::string& what, const std::string& path) {
    auto media = haven::firmware::inspect_boot_media_file(path);
    if (!media) {
      any_bootable = true;  // unreadable here: the firmware may still boot it
      return;
    }
    std::string why = haven::firmware::why_not_bootable(*media, firmware);
    if (why.empty())
      any_bootable = true;
    else
      reasons.push_back(fmt::format("{} ({}): {}", what, path, why));
  };
  for (size_t i = 0; i < config.disks.size(); ++i)
    inspect(fmt::format("disk {}", i), config.disks[i].path);
  if (config.cdrom) inspect("the cdrom", *config.cdrom);
  if (config.floppy) inspect("the floppy", *config.floppy);
  if (any_bootable) return {};
  std::string text;
  for (const std::string& reason : reasons) text += (text.empty() ? "" : "; ") + reason;
  return text;
}

}  // namespace haven::vmm
