// The parts of Machine that boot a guest through firmware (SeaBIOS or OVMF): the PC chipset
// firmware expects, fw_cfg, the firmware images below 4 GiB and the boot watch. What goes into
// fw_cfg is computed in firmware_boot.cc; why the machine looks like this is in
// docs/ARCHITECTURE.md ("Firmware").

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/acpi/table_loader.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/smbios.h"
#include "base/log.h"
#include "base/sys.h"
#include "devices/chipset/i440fx_host.h"
#include "devices/chipset/piix3_isa.h"
#include "devices/chipset/piix4_pm.h"
#include "devices/firmware/rom.h"
#include "vmm/firmware_boot.h"
#include "vmm/machine.h"

namespace haven::vmm {
namespace {

namespace x86 = arch::x86;
using memory::GuestAddr;

constexpr uint64_t kMinImage = 64 * KiB;
constexpr uint64_t kMaxImage = 16 * MiB;
constexpr uint64_t kShadowLimit = 256 * KiB;  // 0xc0000-0xfffff: where SeaBIOS runs from
constexpr uint64_t kMaxFloppy = 2949120;      // 2.88 MB

// An image file of firmware, checked and mapped read-only.
Result<Mapping> map_image(const std::string& path) {
  auto fd = TRY(with_context(sys::open(path, O_RDONLY | O_CLOEXEC), "firmware"));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return errno_error("stat {}", path);
  auto size = static_cast<uint64_t>(info.st_size);
  if (size < kMinImage || size > kMaxImage || size % 4096 != 0)
    return make_error(
        "firmware {}: {} bytes is not a firmware image (64 KiB to 16 MiB, whole pages)", path,
        size);
  return with_context(Mapping::of_fd(fd.get(), size, PROT_READ, MAP_PRIVATE), "firmware {}", path);
}

std::string basename_of(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

// The CPU identity SMBIOS reports, from what the guest's CPUID will say.
void describe_cpu(std::span<const kvm_cpuid_entry2> cpuid, arch::x86::smbios::SmbiosInfo& info) {
  for (const kvm_cpuid_entry2& entry : cpuid) {
    if (entry.function == 0) {
      char vendor[12];
      std::memcpy(vendor, &entry.ebx, 4);
      std::memcpy(vendor + 4, &entry.edx, 4);
      std::memcpy(vendor + 8, &entry.ecx, 4);
      info.cpu_manufacturer =
          arch::x86::smbios::cpu_manufacturer_from_vendor(std::string_view(vendor, 12));
    } else if (entry.function == 1) {
      info.cpu_signature = entry.eax;
      info.cpu_features = entry.edx;
    }
  }
}

}  // namespace

Result<uint32_t> Machine::map_read_only(uint64_t guest_address, std::span<uint8_t> image) {
  uint32_t slot = m_next_slot++;
  TRY(m_vm.set_user_memory_region(slot, guest_address, image, KVM_MEM_READONLY));
  return slot;
}

Result<void> Machine::add_firmware_platform(const VmConfig& config, const kvm::Kvm& kvm,
                                            devices::pci::PciRoot& pci,
                                            const devices::GuestRequestHandler& on_request) {
  TRY(pci.add(0, std::make_shared<devices::chipset::I440fxHost>()));
  TRY(pci.add(1, 0, std::make_shared<devices::chipset::Piix3Isa>()));
  kvm::Vm& vm = m_vm;
  m_pm = std::make_shared<devices::chipset::Piix4Pm>(m_pio, on_request, [&vm](bool level) {
    if (auto set = vm.set_irq_line(devices::chipset::Piix4Pm::kSciIrq, level); !set)
      log::warn("SCI: {}", set.error().message());
  });
  TRY(pci.add(1, 3, m_pm));
  m_fw_cfg = std::make_shared<devices::firmware::FwCfg>(m_memory);
  TRY(m_pio.add(m_fw_cfg, devices::firmware::FwCfg::kBasePort,
                devices::firmware::FwCfg::kPortCount));
  return map_firmware(config, kvm);
}

Result<void> Machine::map_firmware(const VmConfig& config, const kvm::Kvm& kvm) {
  if (TRY(kvm.check_extension(KVM_CAP_READONLY_MEM)) <= 0)
    return make_error("this KVM cannot map firmware read-only (no KVM_CAP_READONLY_MEM)");
  auto files = TRY(find_firmware_files(config.firmware));
  auto code = TRY(map_image(files.code));
  const uint64_t code_base = x86::kPciHoleEnd - code.size();
  TRY(with_context(map_read_only(code_base, code.bytes()), "firmware {}", files.code));
  TRY(m_mmio.add(std::make_shared<devices::firmware::Rom>(code.bytes()), code_base, code.size()));
  m_firmware_images.push_back(std::move(code));
  if (config.firmware != Firmware::uefi) return {};

  // OVMF's variable store: the guest's own file (made from the template the first time), or a
  // copy in memory that goes with the process. Either way a flash chip just below the code.
  if (config.nvram) {
    TRY(prepare_nvram(*config.nvram, files.vars_template));
    m_nvram_fd = TRY(with_context(sys::open(*config.nvram, O_RDWR | O_CLOEXEC | O_NOFOLLOW),
                                  "nvram {}", *config.nvram));
    if (::flock(m_nvram_fd.get(), LOCK_EX | LOCK_NB) != 0)
      return errno_error("nvram {} (is another guest using it?)", *config.nvram);
  } else {
    // One store per VMM process (a VMM runs one guest), made once: a reset builds a new
    // Machine, and the guest's variables must outlive it as they would in a file.
    static UniqueFd process_store;
    if (!process_store) {
      auto bytes = TRY(sys::read_file(files.vars_template, kMaxImage));
      int fd = ::memfd_create("haven-uefi-vars", MFD_CLOEXEC);
      if (fd < 0) return errno_error("memfd_create (UEFI variables in memory)");
      UniqueFd store(fd);
      TRY(with_context(sys::write_all(store.get(), bytes), "UEFI variables in memory"));
      process_store = std::move(store);
      log::info("UEFI variables are kept in memory only (give --nvram FILE to keep them)");
    }
    int fd = ::fcntl(process_store.get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return errno_error("dup (UEFI variables in memory)");
    m_nvram_fd = UniqueFd(fd);
  }
  const std::string store_name = config.nvram ? *config.nvram : std::string("(in memory)");
  struct stat info {};
  if (::fstat(m_nvram_fd.get(), &info) != 0) return errno_error("nvram {}", store_name);
  auto size = static_cast<uint64_t>(info.st_size);
  if (size == 0 || size % devices::firmware::Pflash::kSectorSize != 0 || size > kMaxImage)
    return make_error("nvram {}: {} bytes is not a variable store", store_name, size);
  m_nvram = TRY(with_context(
      Mapping::of_fd(m_nvram_fd.get(), size, PROT_READ | PROT_WRITE, MAP_SHARED), "nvram"));
  // The guest reads a copy (the flash device shows its status register there); the file is
  // the chip's contents.
  m_nvram_view = TRY(with_context(Mapping::anonymous(size), "nvram"));
  std::copy(m_nvram.bytes().begin(), m_nvram.bytes().end(), m_nvram_view.bytes().begin());
  const uint64_t vars_base = code_base - size;
  TRY(with_context(map_read_only(vars_base, m_nvram_view.bytes()), "nvram"));
  auto persist = [this](uint64_t offset, uint64_t length) {
    uint64_t start = offset / 4096 * 4096;
    if (::msync(m_nvram.data() + start, std::min(offset + length, m_nvram.size()) - start,
                MS_SYNC) != 0)
      log::warn("UEFI variable store: msync: {}", std::strerror(errno));
  };
  m_pflash = std::make_shared<devices::firmware::Pflash>(m_nvram.bytes(), m_nvram_view.bytes(),
                                                         true, persist);
  TRY(m_mmio.add(m_pflash, vars_base, size));
  return {};
}

Result<void> Machine::fill_fw_cfg(const VmConfig& config, const kvm::Kvm& kvm) {
  FirmwareInputs inputs;
  inputs.firmware = config.firmware;
  inputs.cpus = config.cpus;
  inputs.layout = {x86::ram_regions(config.memory), m_physical_address_bits};
  for (BootDevice device : effective_boot_order(config)) {
    switch (device) {
      case BootDevice::disk:
        for (uint32_t slot : m_disk_slots) inputs.boot.push_back({BootDevice::disk, slot, {}});
        break;
      case BootDevice::cdrom:
        if (m_cdrom_slot) inputs.boot.push_back({BootDevice::cdrom, *m_cdrom_slot, {}});
        break;
      case BootDevice::floppy: {
        std::string name = "floppyimg/" + basename_of(*config.floppy);
        if (name.size() > devices::firmware::FwCfg::kMaxFileName) name.resize(55);
        inputs.boot.push_back({BootDevice::floppy, 0, name});
        break;
      }
    }
  }
  if (config.floppy) {
    auto image = TRY(with_context(sys::read_file(*config.floppy, kMaxFloppy + 1), "floppy"));
    if (!is_floppy_size(image.size()))
      return make_error(
          "floppy {}: {} bytes is not a floppy size SeaBIOS boots (160K, 180K, 320K, 360K, 720K, "
          "1.2M, 1.44M or 2.88M)",
          *config.floppy, image.size());
    inputs.floppy = std::move(image);
  }
  arch::x86::smbios::SmbiosInfo smbios;
  smbios.cpus = config.cpus;
  for (const memory::RegionSpec& region : inputs.layout.ram)
    smbios.ram.push_back({region.start.value(), region.size});
  describe_cpu(TRY(kvm.supported_cpuid()), smbios);
  auto tables = arch::x86::smbios::build_smbios_tables(smbios);
  inputs.smbios_anchor = std::move(tables.anchor);
  inputs.smbios_tables = std::move(tables.tables);

  auto content = build_fw_cfg_content(inputs);
  for (auto& [key, bytes] : content.items) m_fw_cfg->add_item(key, std::move(bytes));
  for (auto& [name, bytes] : content.files) TRY(m_fw_cfg->add_file(name, std::move(bytes)));
  // The FADT names the PM registers where firmware put them (as QEMU does, the tables are made
  // when firmware reads them, after its PCI setup).
  auto pm = m_pm;
  TRY(m_fw_cfg->set_refresh(arch::x86::acpi::kTablesFile, [inputs, pm]() mutable {
    if (uint16_t base = pm->programmed_base()) inputs.pm_base = base;
    return acpi_tables_file(inputs);
  }));
  for (auto [index, value] : cmos_firmware_bytes(inputs.layout.ram, config.cpus))
    m_cmos->set_nvram(index, value);
  return {};
}

Result<void> Machine::load_firmware(const VmConfig& config) {
  if (config.firmware != Firmware::bios) return {};
  // SeaBIOS runs from 0xc0000-0xfffff, which on a PC the chipset maps to the ROM at power-on
  // and to RAM once the BIOS has copied itself there; Haven's is RAM throughout, loaded here.
  const Mapping& image = m_firmware_images.front();
  uint64_t length = std::min<uint64_t>(image.size(), kShadowLimit);
  return m_memory.write_bytes(GuestAddr(x86::kHighMemoryAddress - length),
                              image.bytes().last(length));
}

}  // namespace haven::vmm
