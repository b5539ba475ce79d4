// The part of Machine that builds its devices from a VmConfig: the legacy ports, the PCI root
// (and, for firmware, the chipset, machine_firmware.cc), the virtio functions in their slots.

#include <array>
#include <cstdint>
#include <string>

#include "arch/x86/acpi/tables.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "base/log.h"
#include "devices/legacy/power_controls.h"
#include "devices/pci/host_bridge.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/scsi.h"
#include "vmm/firmware_boot.h"
#include "vmm/machine.h"
#include "vmm/restoring_disk.h"

namespace haven::vmm {
namespace {

namespace x86 = arch::x86;

// A stable, locally administered MAC for a TAP name: 52:54:00 (as QEMU's) and three bytes of
// the name's hash (FNV-1a, the same on every host).
std::array<uint8_t, 6> default_mac(const std::string& tap) {
  uint32_t hash = 2166136261u;
  for (char c : tap) hash = (hash ^ static_cast<uint8_t>(c)) * 16777619u;
  return {0x52,
          0x54,
          0x00,
          static_cast<uint8_t>(hash >> 16),
          static_cast<uint8_t>(hash >> 8),
          static_cast<uint8_t>(hash)};
}

}  // namespace

Result<void> Machine::add_devices(const VmConfig& config, const kvm::Kvm& kvm) {
  const bool firmware = config.firmware != Firmware::none;
  StopControl& stop = *m_stop;
  devices::GuestRequestHandler on_request = [&stop](devices::GuestRequest request) {
    switch (request) {
      case devices::GuestRequest::power_off:
        stop.request({StopKind::power_off, "the guest powered off"});
        break;
      case devices::GuestRequest::reset:
        stop.request({StopKind::reset, "the guest asked for a reset"});
        break;
      case devices::GuestRequest::panic:
        stop.request({StopKind::panic, "the guest kernel panicked (pvpanic)"});
        break;
    }
  };
  kvm::Vm& vm = m_vm;
  Console& console = m_console;
  if (firmware) {
    // The guest's console tells when its firmware found nothing to boot.
    m_boot_watch =
        std::make_shared<BootWatch>(config.firmware, [&stop, config](const std::string& why) {
          std::string media = describe_boot_media(config);
          stop.request({StopKind::no_boot, media.empty() ? why : why + ": " + media});
        });
  }
  BootWatch* watch = m_boot_watch.get();
  m_uart = std::make_shared<devices::legacy::Uart8250>(
      [&console, watch](std::span<const uint8_t> bytes) {
        console.write(bytes);
        if (watch) watch->observe(bytes);
      },
      [&vm](bool level) {
        if (auto result = vm.set_irq_line(x86::kSerialIrq, level); !result)
          log::warn("serial interrupt: {}", result.error().message());
      });
  TRY(m_pio.add(m_uart, x86::kSerialPort, 8));
  // IRQ 1 stays unwired: there are no keys to report, and firmware polls for the answers to its
  // commands. A burst of answer interrupts during OVMF's keyboard probe also trips a bug in
  // QEMU's emulation of SVM (7.2 to 10.0: CR8 written while a virtual interrupt is pending
  // aborts QEMU), which the nested rig runs on (docs/RIG.md).
  m_i8042 = std::make_shared<devices::legacy::I8042>(on_request);
  TRY(m_pio.add(m_i8042, devices::legacy::I8042::kBasePort, devices::legacy::I8042::kPortCount));
  m_cmos = std::make_shared<devices::legacy::CmosRtc>(
      devices::legacy::CmosRtc::Clock{}, [&vm](bool level) {
        if (auto result = vm.set_irq_line(x86::kRtcIrq, level); !result)
          log::warn("RTC interrupt: {}", result.error().message());
      });
  TRY(m_pio.add(m_cmos, devices::legacy::CmosRtc::kBasePort, devices::legacy::CmosRtc::kPortCount));
  // Haven's own power ports for a hardware-reduced FADT; a PC's are the PIIX4's (which SeaBIOS
  // may put right here).
  if (!firmware)
    TRY(m_pio.add(std::make_shared<devices::legacy::PowerControls>(
                      x86::kAcpiS5SleepType, x86::kAcpiResetValue, on_request),
                  x86::kAcpiSleepControlPort, devices::legacy::PowerControls::kPortCount));
  TRY(m_pio.add(std::make_shared<devices::legacy::Pvpanic>(on_request), x86::kPvpanicPort, 1));
  auto pci = std::make_shared<devices::pci::PciRoot>(on_request);
  m_pci = pci;
  TRY(m_pio.add(pci, devices::pci::PciRoot::kBasePort, devices::pci::PciRoot::kPortCount));
  // Where PCI memory decodes: the hole below the IOAPIC; for firmware, which places BARs
  // itself, the whole hole above low RAM and a 64-bit window too (as the DSDT declares).
  x86::acpi::PciWindows windows;
  if (firmware) {
    TRY(add_firmware_platform(config, kvm, *pci, on_request));
    windows = firmware_pci_windows({x86::ram_regions(config.memory), m_physical_address_bits});
  } else {
    TRY(pci->add(0, std::make_shared<devices::pci::HostBridge>()));
  }
  TRY(m_mmio.add(std::make_shared<devices::pci::PciMmioWindow>(pci, windows.mmio32_start),
                 windows.mmio32_start, windows.mmio32_end - windows.mmio32_start));
  if (windows.mmio64_start)
    TRY(m_mmio.add(std::make_shared<devices::pci::PciMmioWindow>(pci, *windows.mmio64_start),
                   *windows.mmio64_start, windows.mmio64_end - *windows.mmio64_start));
  if (config.firmware == Firmware::bios) {
    auto* uart = m_uart.get();
    m_text_screen = std::make_unique<TextScreen>(
        m_memory, [uart](std::span<const uint8_t> bytes) { uart->emit(bytes); });
  }
  // Devices after the chipset: slot 1 on, or 2 on behind firmware's PIIX at slot 1.
  TRY(add_virtio_devices(config, *pci, firmware ? 2 : 1));
  if (firmware) TRY(fill_fw_cfg(config, kvm));
  return {};
}

// Virtio devices from `first_slot` on, each BAR placed as firmware would (Linux keeps
// assignments that fit the root bridge's window; guest firmware places them again).
Result<void> Machine::add_virtio_devices(const VmConfig& config, devices::pci::PciRoot& pci,
                                         uint32_t first_slot) {
  m_pci_platform = std::make_unique<KvmPciPlatform>(m_vm);
  uint32_t slot = first_slot;
  uint64_t next_bar = x86::kPciHoleStart;
  auto add = [&](std::unique_ptr<devices::virtio::VirtioDevice> device) -> Result<void> {
    std::string name(device->name());
    auto function = TRY(with_context(
        devices::virtio::VirtioPci::create(std::move(device), m_memory, *m_pci_platform, slot),
        "{}", name));
    uint64_t size = function->bar_size(0);
    next_bar = (next_bar + size - 1) & ~(size - 1);
    if (next_bar + size > x86::kPciMmioEnd) return make_error("{}: the PCI window is full", name);
    function->place_bar(0, next_bar);
    TRY(pci.add(slot, function));
    m_virtio.push_back(function);
    log::debug("PCI 00:{:02x}.0: {} (BAR0 {:#x})", slot, name, next_bar);
    next_bar += size;
    ++slot;
    return {};
  };
  static_assert(kMaxDiskQueues == devices::virtio::Block::kMaxQueues);
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& disk = config.disks[i];
    // The serial (/sys/block/vdX/serial) names the image, so the guest can tell disks apart.
    std::string serial = disk.path.substr(disk.path.rfind('/') + 1);
    std::unique_ptr<block::HydratingImage> restoring;
    if (!disk.restore_repo.empty())
      restoring = TRY(with_context(open_restoring_disk(disk), "disk {}", i));
    auto block = TRY(with_context(
        devices::virtio::Block::open({disk.path, disk.readonly, disk.direct, serial, disk.cbt,
                                      static_cast<uint16_t>(disk_queues(disk, config.cpus))},
                                     std::move(restoring)),
        "disk {}", i));
    m_disks.push_back(block.get());
    m_disk_slots.push_back(slot);
    TRY(add(std::move(block)));
  }
  if (config.cdrom) {
    auto scsi = TRY(with_context(devices::virtio::Scsi::open(*config.cdrom), "cdrom"));
    m_cdrom_slot = slot;
    TRY(add(std::move(scsi)));
  }
  for (const NetConfig& net : config.nets) {
    devices::virtio::NetOptions options{net.tap, net.mac.value_or(default_mac(net.tap))};
    auto device = TRY(with_context(devices::virtio::Net::open(options), "net {}", net.tap));
    TRY(add(std::move(device)));
  }
  if (config.rng) TRY(add(std::make_unique<devices::virtio::Rng>()));
  if (m_virtio_console_host) {
    Console& host = *m_virtio_console_host;
    auto console = TRY(devices::virtio::Console::create(
        [&host](std::span<const uint8_t> bytes) { host.write(bytes); }));
    m_virtio_console = console.get();
    TRY(add(std::move(console)));
  }
  return {};
}

}  // namespace haven::vmm
