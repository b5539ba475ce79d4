#include "vmm/machine.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "arch/x86/acpi/tables.h"
#include "arch/x86/cpu_state.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/e820.h"
#include "arch/x86/kernel_loader.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "arch/x86/msrs.h"
#include "arch/x86/reset_vector.h"
#include "base/atomic_file.h"
#include "base/file_extents.h"
#include "base/log.h"
#include "base/sys.h"
#include "devices/legacy/cmos_rtc.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/power_controls.h"
#include "devices/pci/host_bridge.h"
#include "devices/pci/pci_root.h"
#include "devices/virtio/block.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/scsi.h"
#include "devices/virtio/virtio_pci.h"
#include "kvm/cpu_state.h"
#include "kvm/stats.h"
#include "vmm/firmware_boot.h"
#include "vmm/memory_image.h"
#include "vmm/restoring_disk.h"
#include "vmm/vcpu_runner.h"

namespace haven::vmm {
namespace {

namespace x86 = arch::x86;
using memory::GuestAddr;

constexpr size_t kMaxKernelSize = 512 * MiB;
constexpr uint32_t kLapicLvt0 = 0x350;
constexpr uint32_t kLapicLvt1 = 0x360;
constexpr uint32_t kDeliveryModeNmi = 4;
constexpr uint32_t kDeliveryModeExtInt = 7;

void set_lvt_delivery_mode(kvm_lapic_state& lapic, uint32_t offset, uint32_t mode) {
  uint32_t value;
  std::memcpy(&value, lapic.regs + offset, sizeof(value));
  value = (value & ~0x700u) | (mode << 8);
  std::memcpy(lapic.regs + offset, &value, sizeof(value));
}

// Every vCPU: the CPU model first (MSR checks depend on it), boot MSRs, FPU, and the LAPIC's
// LINT0 as ExtINT (the 8259 path) and LINT1 as NMI, as firmware leaves them. Under firmware
// only the CPU model: the rest is KVM's power-on state, which the firmware sets up itself.
Result<void> configure_vcpu(kvm::Vcpu& vcpu, std::span<const kvm_cpuid_entry2> supported,
                            uint32_t count, bool firmware) {
  TRY(vcpu.set_cpuid(x86::build_guest_cpuid(supported, vcpu.id(), count)));
  if (firmware) return {};
  TRY(vcpu.set_msrs(x86::boot_msrs()));
  TRY(vcpu.set_fpu(x86::initial_fpu()));
  kvm_lapic_state lapic = TRY(vcpu.get_lapic());
  set_lvt_delivery_mode(lapic, kLapicLvt0, kDeliveryModeExtInt);
  set_lvt_delivery_mode(lapic, kLapicLvt1, kDeliveryModeNmi);
  TRY(vcpu.set_lapic(lapic));
  return {};
}

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

Machine::Machine(kvm::Vm vm, memory::GuestMemory memory, std::unique_ptr<StopControl> stop,
                 Console& console, Console* virtio_console, VmConfig config)
    : m_vm(std::move(vm)),
      m_memory(std::move(memory)),
      m_config(std::move(config)),
      m_stop(std::move(stop)),
      m_console(console),
      m_virtio_console_host(virtio_console) {}

Result<std::unique_ptr<Machine>> Machine::build(const VmConfig& config, const kvm::Kvm& kvm,
                                                Console& console, Console* virtio_console,
                                                memory::GuestMemory memory) {
  kvm::Vm vm = TRY(kvm.create_vm());
  TRY(vm.set_identity_map_address(x86::kIdentityMapAddress));
  TRY(vm.set_tss_address(x86::kTssAddress));
  TRY(vm.create_irqchip());
  TRY(vm.create_pit2());
  // UEFI firmware counts no ticks (its clock is the CMOS RTC), so a missed tick is dropped
  // rather than delivered late: OVMF's interrupt handlers then rarely find the next tick
  // already pending, which is also what crashes the nested test rig's emulator (docs/RIG.md).
  if (config.firmware == Firmware::uefi) TRY(vm.set_pit_reinject(false));
  uint32_t slot = 0;
  for (const auto& region : memory.regions())
    TRY(vm.set_user_memory_region(slot++, region.start.value(), region.host.bytes()));

  auto stop = TRY(StopControl::create());
  auto machine = std::make_unique<Machine>(std::move(vm), std::move(memory), std::move(stop),
                                           console, virtio_console, config);
  machine->m_next_slot = slot;
  machine->m_msr_indices = TRY(kvm.msr_index_list());
  machine->m_physical_address_bits = x86::physical_address_bits(TRY(kvm.supported_cpuid()));
  TRY(machine->add_devices(config, kvm));
  return machine;
}

Result<std::unique_ptr<Machine>> Machine::create(const VmConfig& config, const kvm::Kvm& kvm,
                                                 Console& console, Console* virtio_console) {
  TRY(validate(config));
  auto ram = x86::ram_regions(config.memory);
  auto memory = TRY(memory::GuestMemory::create(ram));
  auto machine = TRY(build(config, kvm, console, virtio_console, std::move(memory)));
  if (config.firmware == Firmware::none)
    TRY(machine->load_guest(config));
  else
    TRY(machine->load_firmware(config));
  TRY(machine->create_vcpus(kvm, config.cpus));
  return machine;
}

namespace {

// The guest side of `config` must be the snapshot's: the same RAM, vCPUs and devices in the
// same slots. Host-side paths (consoles, disk files) may differ.
Result<void> check_matches(const VmConfig& config, const VmConfig& saved) {
  if (config.memory != saved.memory)
    return make_error("memory is {} bytes; the snapshot's guest has {}", config.memory,
                      saved.memory);
  if (config.cpus != saved.cpus)
    return make_error("{} vCPUs; the snapshot's guest has {}", config.cpus, saved.cpus);
  if (config.disks.size() != saved.disks.size())
    return make_error("{} disks; the snapshot's guest has {}", config.disks.size(),
                      saved.disks.size());
  for (size_t i = 0; i < config.disks.size(); ++i)
    if (config.disks[i].readonly != saved.disks[i].readonly)
      return make_error("disk {} is {}; in the snapshot it is {}", i,
                        config.disks[i].readonly ? "read-only" : "writable",
                        saved.disks[i].readonly ? "read-only" : "writable");
  if (config.nets.size() != saved.nets.size())
    return make_error("{} network interfaces; the snapshot's guest has {}", config.nets.size(),
                      saved.nets.size());
  if (config.rng != saved.rng) return make_error("rng differs from the snapshot's");
  if (config.firmware != saved.firmware)
    return make_error("firmware is {}; the snapshot's guest has {}", firmware_name(config.firmware),
                      firmware_name(saved.firmware));
  if (config.cdrom.has_value() != saved.cdrom.has_value())
    return make_error("cdrom differs from the snapshot's");
  if (config.floppy.has_value() != saved.floppy.has_value())
    return make_error("floppy differs from the snapshot's");
  if (config.virtio_console.has_value() != saved.virtio_console.has_value())
    return make_error("virtio_console differs from the snapshot's");
  return {};
}

}  // namespace

Result<std::unique_ptr<Machine>> Machine::restore(const VmConfig& config, const kvm::Kvm& kvm,
                                                  Console& console, Console* virtio_console,
                                                  const std::string& dir,
                                                  const Snapshot& snapshot) {
  TRY(validate(config));
  TRY(with_context(check_matches(config, snapshot.config), "restoring {}", dir));
  auto ram = x86::ram_regions(config.memory);
  if (ram.size() != snapshot.memory.size())
    return make_error("{}: {} memory regions, expected {}", dir, snapshot.memory.size(),
                      ram.size());
  for (size_t i = 0; i < ram.size(); ++i)
    if (ram[i].start.value() != snapshot.memory[i].guest_address ||
        ram[i].size != snapshot.memory[i].size)
      return make_error("{}: memory region {} is not where this machine puts RAM", dir, i);
  auto memory = TRY(map_memory_image(dir + "/" + kSnapshotMemoryName, snapshot.memory));
  auto machine = TRY(build(config, kvm, console, virtio_console, std::move(memory)));
  if (machine->m_boot_watch) machine->m_boot_watch->stand_down();
  // The irqchip and clock first, then the vCPUs; devices last, since restarting a virtio
  // device may raise an interrupt at once and the LAPIC must already be the saved one.
  TRY(with_context(kvm::restore_vm_state(machine->m_vm, snapshot.vm), "restoring {}", dir));
  for (uint32_t id = 0; id < config.cpus; ++id) {
    kvm::Vcpu vcpu = TRY(machine->m_vm.create_vcpu(id));
    TRY(with_context(kvm::restore_vcpu_state(vcpu, snapshot.vcpus[id]), "restoring vCPU {}", id));
    machine->add_vcpu(std::move(vcpu));
  }
  TRY(with_context(machine->restore_devices(snapshot.devices), "restoring {}", dir));
  return machine;
}

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
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& disk = config.disks[i];
    // The serial (/sys/block/vdX/serial) names the image, so the guest can tell disks apart.
    std::string serial = disk.path.substr(disk.path.rfind('/') + 1);
    std::unique_ptr<block::HydratingImage> restoring;
    if (!disk.restore_repo.empty())
      restoring = TRY(with_context(open_restoring_disk(disk), "disk {}", i));
    auto block = TRY(with_context(
        devices::virtio::Block::open({disk.path, disk.readonly, disk.direct, serial, disk.cbt},
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

Result<void> Machine::load_guest(const VmConfig& config) {
  auto kernel = TRY(with_context(sys::read_file(config.kernel, kMaxKernelSize), "kernel"));
  std::optional<std::vector<uint8_t>> initrd;
  if (config.initrd)
    initrd = TRY(with_context(sys::read_file(*config.initrd, config.memory), "initrd"));

  auto acpi = x86::acpi::build_acpi_tables(x86::kAcpiTablesAddress, config.cpus);
  if (acpi.blob.size() > x86::kAcpiTablesEnd - x86::kAcpiTablesAddress)
    return make_error("ACPI tables ({} bytes) overflow their area", acpi.blob.size());
  TRY(m_memory.write_bytes(GuestAddr(x86::kAcpiTablesAddress), acpi.blob));
  auto mptable = x86::build_mptable(x86::kMpTableAddress, config.cpus);
  if (mptable.size() > x86::kAcpiTablesAddress - x86::kMpTableAddress)
    return make_error("MP table ({} bytes) overflows its area", mptable.size());
  TRY(m_memory.write_bytes(GuestAddr(x86::kMpTableAddress), mptable));

  TRY(m_memory.write_bytes(GuestAddr(x86::kResetVectorAddress), x86::kResetVectorStub));

  x86::KernelImages images;
  images.kernel = kernel;
  if (initrd) images.initrd = std::span<const uint8_t>(*initrd);
  images.cmdline = config.cmdline;
  images.acpi_rsdp_address = acpi.rsdp_address;
  m_entry = TRY(with_context(x86::load_kernel(m_memory, images), "kernel {}", config.kernel));
  return {};
}

void Machine::add_vcpu(kvm::Vcpu vcpu) {
  auto stats = kvm::KvmStats::open(vcpu.fd());
  if (!stats) log::debug("vCPU {}: no KVM statistics: {}", vcpu.id(), stats.error().message());
  m_vcpu_stats.push_back(stats ? std::optional(std::move(*stats)) : std::nullopt);
  m_vcpus.push_back(std::move(vcpu));
}

Result<void> Machine::create_vcpus(const kvm::Kvm& kvm, uint32_t count) {
  auto supported = TRY(kvm.supported_cpuid());
  const bool firmware = m_config.firmware != Firmware::none;
  for (uint32_t id = 0; id < count; ++id) {
    kvm::Vcpu vcpu = TRY(m_vm.create_vcpu(id));
    TRY(with_context(configure_vcpu(vcpu, supported, count, firmware), "vCPU {}", id));
    add_vcpu(std::move(vcpu));
  }
  // Firmware starts where a PC does, at the reset vector (KVM's power-on state).
  if (firmware) return {};
  // Only the boot processor starts at the kernel; the others wait in KVM for the INIT/SIPI
  // sequence the guest sends them.
  kvm::Vcpu& boot = m_vcpus.front();
  kvm_regs regs{};
  kvm_sregs sregs = TRY(boot.get_sregs());
  x86::set_entry_registers(m_entry, regs, sregs);
  TRY(boot.set_sregs(sregs));
  TRY(boot.set_regs(regs));
  return {};
}

StopReason Machine::run(int signal_fd, std::chrono::steady_clock::time_point started,
                        ControlSocket* control) {
  auto loop = EventLoop::create();
  if (!loop) return {StopKind::error, loop.error().message()};
  StopControl& stop = *m_stop;
  auto watched = loop->add(stop.fd(), [] {});
  if (watched && signal_fd >= 0) {
    watched = loop->add(signal_fd, [signal_fd, &stop] {
      signalfd_siginfo info{};
      if (::read(signal_fd, &info, sizeof(info)) == sizeof(info))
        stop.request(
            {StopKind::host_signal,
             fmt::format("stopped by signal {}", strsignal(static_cast<int>(info.ssi_signo))),
             static_cast<int>(info.ssi_signo)});
    });
  }
  if (watched) {
    auto uart = m_uart;
    watched = m_console.attach_input(
        *loop, {[uart](std::span<const uint8_t> bytes) {
                  if (uart->enqueue_input(bytes) < bytes.size())
                    log::warn("console input dropped: the guest is not reading it");
                },
                [&stop] {
                  stop.request({StopKind::user_quit, "quit from the console"});
                }});
  }
  if (watched && m_virtio_console) {
    devices::virtio::Console* device = m_virtio_console;
    watched = m_virtio_console_host->attach_input(
        *loop, {[device](std::span<const uint8_t> bytes) {
                  if (device->enqueue_input(bytes) < bytes.size())
                    log::warn("virtio console input dropped: the guest is not reading it");
                },
                [&stop] {
                  stop.request({StopKind::user_quit, "quit from the console"});
                }});
  }
  if (watched && control)
    watched = control->attach(
        *loop, [this](const nlohmann::json& request) { return handle_control(request); });
  // The boot timeout of a firmware guest, from now (the firmware starts with the vCPUs).
  UniqueFd boot_deadline;
  if (watched && m_boot_watch && m_config.boot_timeout > 0) {
    std::chrono::seconds timeout(m_config.boot_timeout);
    auto timer = sys::timerfd_once(timeout);
    if (timer) {
      boot_deadline = std::move(*timer);
      BootWatch* watch = m_boot_watch.get();
      watched = loop->add(boot_deadline.get(),
                          [this, watch, timeout, &loop = *loop, fd = boot_deadline.get()] {
                            uint64_t expirations = 0;
                            (void)::read(fd, &expirations, sizeof(expirations));
                            if (m_paused) {
                              // A paused guest (an API pause, a snapshot) boots nothing: wait once
                              // more.
                              itimerspec again{};
                              again.it_value.tv_sec = static_cast<time_t>(timeout.count());
                              if (::timerfd_settime(fd, 0, &again, nullptr) == 0) return;
                            }
                            watch->deadline_passed(timeout);
                            loop.remove(fd);
                          });
    } else {
      watched = std::unexpected(timer.error());
    }
  }
  // A BIOS guest's text screen, drawn on the console until the guest runs the serial port.
  UniqueFd screen_timer;
  if (watched && m_text_screen) {
    auto timer = sys::timerfd_periodic(std::chrono::milliseconds(200));
    if (timer) {
      screen_timer = std::move(*timer);
      watched = loop->add(screen_timer.get(), [this, &loop = *loop, fd = screen_timer.get()] {
        uint64_t expirations = 0;
        (void)::read(fd, &expirations, sizeof(expirations));
        if (m_uart->baud_rate_set())
          loop.remove(fd);
        else
          m_text_screen->refresh();
      });
    } else {
      watched = std::unexpected(timer.error());
    }
  }
  if (!watched) return {StopKind::error, watched.error().message()};

  install_kick_handler();
  m_gate = std::make_unique<VcpuGate>(m_vcpus.size());
  VcpuGate& gate = *m_gate;
  m_threads.reserve(m_vcpus.size());
  VcpuBuses buses{m_pio, m_mmio, m_config.firmware != Firmware::none};
  for (kvm::Vcpu& vcpu : m_vcpus)
    m_threads.emplace_back(
        [&vcpu, buses, &stop, &gate, started] { run_vcpu(vcpu, buses, stop, gate, started); });

  for (std::jthread& thread : m_threads) {
    clockid_t clock = CLOCK_THREAD_CPUTIME_ID;
    pthread_getcpuclockid(thread.native_handle(), &clock);
    m_vcpu_clocks.push_back(clock);
  }

  if (auto result = loop->run_until([&stop] { return stop.requested(); }); !result)
    stop.request({StopKind::error, result.error().message()});

  gate.open();  // a paused guest's vCPUs wake, see the stop and end
  kick_vcpus();
  m_threads.clear();  // joins
  m_vcpu_clocks.clear();
  if (log::level() <= log::Level::debug) {
    for (const kvm::Vcpu& vcpu : m_vcpus)
      log::debug("vCPU {} at exit: {}", vcpu.id(), describe_registers(vcpu));
  }
  return *stop.reason();
}

void Machine::kick_vcpus() {
  for (size_t i = 0; i < m_threads.size(); ++i) {
    m_vcpus[i].request_exit();
    pthread_kill(m_threads[i].native_handle(), kick_signal());
  }
}

Result<void> Machine::pause() {
  if (m_paused) return {};
  m_gate->close();
  kick_vcpus();
  if (!m_gate->wait_parked(std::chrono::seconds(5))) {
    m_gate->open();
    return make_error("the vCPUs did not stop within 5 s");
  }
  // No vCPU runs now, so no new doorbells: the devices finish what they have and stop.
  for (auto& device : m_virtio) device->pause();
  m_paused = true;
  return {};
}

void Machine::resume() {
  if (!m_paused) return;
  for (auto& device : m_virtio) device->resume();
  m_paused = false;
  m_gate->open();
}

devices::DeviceState Machine::save_devices() {
  devices::DeviceState state = {
      {"uart", m_uart->save_state()}, {"cmos", m_cmos->save_state()}, {"pci", m_pci->save_state()}};
  state["i8042"] = m_i8042->save_state();
  if (m_fw_cfg) state["fw_cfg"] = m_fw_cfg->save_state();
  if (m_pflash) state["pflash"] = m_pflash->save_state();
  return state;
}

Result<void> Machine::restore_devices(const devices::DeviceState& state) {
  for (const char* name : {"uart", "cmos", "pci"})
    if (!state.contains(name)) return make_error("device state has no '{}'", name);
  TRY(with_context(m_uart->restore_state(state["uart"]), "serial port"));
  TRY(with_context(m_cmos->restore_state(state["cmos"]), "CMOS RTC"));
  TRY(with_context(m_pci->restore_state(state["pci"]), "PCI"));
  // Snapshots from before the keyboard controller kept state have none: its power-on state.
  if (state.contains("i8042"))
    TRY(with_context(m_i8042->restore_state(state["i8042"]), "keyboard controller"));
  if (m_fw_cfg && state.contains("fw_cfg"))
    TRY(with_context(m_fw_cfg->restore_state(state["fw_cfg"]), "fw_cfg"));
  if (m_pflash && state.contains("pflash"))
    TRY(with_context(m_pflash->restore_state(state["pflash"]), "UEFI variable store"));
  return {};
}

Result<SnapshotResult> Machine::snapshot(const std::string& dir) {
  using Clock = std::chrono::steady_clock;
  auto began = Clock::now();
  if (dir.empty() || dir.front() != '/')
    return field_error(ErrorKind::invalid, "dir", "the snapshot directory must be absolute");
  // Its copy would lack the chunks not fetched yet (and the list of which those are).
  for (size_t i = 0; i < m_disks.size(); ++i)
    if (m_disks[i]->restoring())
      return field_error(ErrorKind::conflict, "state",
                         "disk {} ({}) is still being restored from a backup; snapshot "
                         "the guest once its fill completes",
                         i, m_disks[i]->path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return errno_error("mkdir {}", dir);
  // An older snapshot here stops being one before any of its files is replaced.
  std::string manifest = dir + "/" + kSnapshotFileName;
  if (::unlink(manifest.c_str()) != 0 && errno != ENOENT) return errno_error("remove {}", manifest);

  bool was_paused = m_paused;
  TRY(pause());
  auto paused_at = Clock::now();
  SnapshotResult result;
  Snapshot snapshot;
  auto capture = [&]() -> Result<void> {
    snapshot.config = m_config;
    snapshot.vm = TRY(kvm::save_vm_state(m_vm));
    for (const kvm::Vcpu& vcpu : m_vcpus)
      snapshot.vcpus.push_back(
          TRY(with_context(kvm::save_vcpu_state(vcpu, m_msr_indices), "vCPU {}", vcpu.id())));
    snapshot.devices = save_devices();
    auto image = TRY(write_memory_image(m_memory, dir + "/" + kSnapshotMemoryName));
    snapshot.memory = image.regions;
    result.memory_bytes = image.data_bytes;
    // Writable disks are copied while the guest stands still (the devices have finished every
    // request, and their writes are in the page cache the copy reads).
    for (size_t i = 0; i < m_config.disks.size(); ++i) {
      const DiskConfig& disk = m_config.disks[i];
      if (disk.readonly) {
        snapshot.disk_copies.emplace_back();
        continue;
      }
      std::string name = snapshot_disk_name(i);
      std::string target = dir + "/" + name, temporary = target + ".tmp";
      ::unlink(temporary.c_str());
      result.disk_bytes += TRY(with_context(copy_sparse_file(disk.path, temporary), "disk {}", i));
      if (::rename(temporary.c_str(), target.c_str()) != 0)
        return errno_error("rename {} to {}", temporary, target);
      snapshot.disk_copies.push_back(name);
    }
    // The UEFI variables, as the flash holds them now (the guest stands still).
    if (m_pflash) {
      TRY(with_context(
          write_file_atomic(dir + "/" + kSnapshotNvramName, m_nvram.bytes(), false, 0600),
          "UEFI variable store"));
      snapshot.nvram_copy = kSnapshotNvramName;
    }
    return {};
  };
  auto captured = capture();
  if (!was_paused) resume();
  auto resumed_at = Clock::now();
  TRY(captured);
  TRY(write_snapshot_file(dir, snapshot));
  using Ms = std::chrono::duration<double, std::milli>;
  result.paused_ms = Ms(resumed_at - paused_at).count();
  result.total_ms = Ms(Clock::now() - began).count();
  return result;
}

nlohmann::json Machine::stats() const {
  using json = nlohmann::json;
  // KVM's names (x86); a kernel without one of them just leaves it out.
  static constexpr std::string_view kVcpuStats[] = {
      "exits",        "io_exits",         "mmio_exits",       "halt_exits",     "irq_exits",
      "signal_exits", "irq_window_exits", "nmi_window_exits", "irq_injections", "halt_wakeup"};
  json vcpus = json::array();
  for (size_t i = 0; i < m_vcpus.size(); ++i) {
    json vcpu = {{"id", m_vcpus[i].id()}};
    timespec used{};
    if (i < m_vcpu_clocks.size() && ::clock_gettime(m_vcpu_clocks[i], &used) == 0)
      vcpu["cpu_seconds"] = static_cast<double>(used.tv_sec) + used.tv_nsec / 1e9;
    if (m_vcpu_stats[i])
      if (auto values = m_vcpu_stats[i]->read(kVcpuStats))
        for (const auto& [name, value] : *values) vcpu[name] = value;
    vcpus.push_back(std::move(vcpu));
  }
  json devices = json::array();
  for (const auto& device : m_virtio) {
    json entry = device->counters();
    entry["name"] = device->name();
    entry["slot"] = device->slot();
    devices.push_back(std::move(entry));
  }
  return {{"ok", true}, {"vcpus", vcpus}, {"devices", devices}};
}

Result<control::BackupBeginAnswer> Machine::begin_backup(
    const control::BackupBeginRequest& request) {
  std::vector<devices::virtio::Block*> disks;
  for (const control::BackupDisk& part : request.disks) {
    if (part.disk >= m_disks.size())
      return field_error(ErrorKind::invalid, "disks", "{} is not a disk index (the guest has {})",
                         part.disk, m_disks.size());
    disks.push_back(m_disks[part.disk]);
  }
  // Paused, so no request is in flight while a view or a bitmap changes hands; every disk's
  // view is taken in the same pause, so together they are the guest's disks at one instant.
  bool was_paused = m_paused;
  TRY(pause());
  control::BackupBeginAnswer answer;
  Result<void> done = {};
  for (size_t i = 0; i < disks.size() && done; ++i) {
    const control::BackupDisk& part = request.disks[i];
    auto view = disks[i]->begin_backup(part.state, part.data, part.baseline, part.granularity);
    if (!view) {
      for (size_t j = 0; j < i; ++j) disks[j]->end_backup(false, {});
      done = std::unexpected(std::move(view).error());
      break;
    }
    answer.views.push_back({view->incremental, view->disk_bytes, view->granularity,
                            view->wanted_blocks, disks[i]->path()});
    log::info("{}: backup view taken ({} of {} blocks wanted, {})", disks[i]->path(),
              view->wanted_blocks, (view->disk_bytes + view->granularity - 1) / view->granularity,
              view->incremental ? "incremental" : "full");
  }
  // A UEFI guest's variables from the same instant as its disks, when asked for.
  if (done && !request.nvram.empty() && m_nvram.size() > 0) {
    done = with_context(write_file_atomic(request.nvram, m_nvram.bytes(), false, 0600),
                        "backup_begin: nvram copy {}", request.nvram);
    if (!done)
      for (auto* disk : disks) disk->end_backup(false, {});
    else
      answer.nvram = request.nvram;
  }
  if (!was_paused) resume();
  TRY(done);
  return answer;
}

Result<void> Machine::end_backup(const control::BackupEndRequest& request) {
  if (request.disk >= m_disks.size())
    return field_error(ErrorKind::invalid, "disk", "{} is not a disk index (the guest has {})",
                       request.disk, m_disks.size());
  devices::virtio::Block* disk = m_disks[request.disk];
  bool was_paused = m_paused;
  TRY(pause());
  disk->end_backup(request.commit, request.baseline);
  log::info("{}: backup {}", disk->path(),
            request.commit ? "committed as " + request.baseline : std::string("abandoned"));
  if (!was_paused) resume();
  return {};
}

nlohmann::json Machine::handle_control(const nlohmann::json& request) {
  auto answer = control_answer(request);
  return answer ? std::move(*answer) : control_error_answer(answer.error());
}

Result<nlohmann::json> Machine::control_answer(const nlohmann::json& request) {
  switch (TRY(control::op_of(request))) {
    case control::Op::status:
      return control::to_json(control::StatusAnswer{m_paused, control::kVersion});
    case control::Op::stats:
      return stats();
    case control::Op::pause:
      TRY(pause());
      log::info("guest paused");
      return control::ok();
    case control::Op::resume:
      resume();
      log::info("guest resumed");
      return control::ok();
    case control::Op::power_button:
      // A PC's fixed power button (an SCI), or an edge on the GED's interrupt: the guest's
      // ACPI button driver sees a press.
      if (m_pm)
        m_pm->press_power_button();
      else
        for (bool level : {true, false}) TRY(m_vm.set_irq_line(x86::kPowerButtonGsi, level));
      log::info("power button pressed");
      return control::ok();
    case control::Op::snapshot: {
      auto asked = TRY(control::snapshot_request_from_json(request));
      auto taken = TRY(snapshot(asked.dir));
      log::info("snapshot written to {}: {} MiB of memory, {} MiB of disk, guest paused {:.1f} ms",
                asked.dir, taken.memory_bytes >> 20, taken.disk_bytes >> 20, taken.paused_ms);
      return control::to_json(control::SnapshotAnswer{taken.memory_bytes, taken.disk_bytes,
                                                      taken.paused_ms, taken.total_ms});
    }
    case control::Op::fill: {
      auto asked = TRY(control::fill_request_from_json(request));
      uint64_t restoring = 0;
      for (auto* disk : m_disks) restoring += disk->pause_fill(asked.paused);
      if (restoring == 0)
        return field_error(ErrorKind::conflict, "fill", "no disk of this guest is being restored");
      log::info("background fill of {} restoring disk(s) {}", restoring,
                asked.paused ? "paused" : "going on");
      return control::to_json(control::FillAnswer{restoring});
    }
    case control::Op::backup_begin: {
      auto asked = TRY(control::backup_begin_request_from_json(request));
      return control::to_json(TRY(begin_backup(asked)));
    }
    case control::Op::backup_end: {
      auto asked = TRY(control::backup_end_request_from_json(request));
      TRY(end_backup(asked));
      return control::ok();
    }
  }
  return make_error("unhandled op");
}

}  // namespace haven::vmm
