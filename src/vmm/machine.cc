// Machine's life: building a VM (memory, irqchip, vCPUs, a directly booted kernel), rebuilding
// one from a snapshot, and running it. Its devices are built in machine_devices.cc (firmware's
// in machine_firmware.cc); what havend asks of it is served in machine_control.cc.

#include "vmm/machine.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
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
#include "base/log.h"
#include "base/sys.h"
#include "kvm/cpu_state.h"
#include "kvm/stats.h"
#include "vmm/firmware_boot.h"
#include "vmm/memory_image.h"
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
  // Each disk's queues counted out, so that a snapshot keeps them (machine_control.cc).
  VmConfig resolved = config;
  for (DiskConfig& disk : resolved.disks) disk.queues = disk_queues(disk, config.cpus);
  auto machine = TRY(build(resolved, kvm, console, virtio_console, std::move(memory)));
  if (config.firmware == Firmware::none)
    TRY(machine->load_guest(config));
  else
    TRY(machine->load_firmware(config));
  TRY(machine->create_vcpus(kvm, config.cpus));
  return machine;
}

namespace {

// A disk's queues in a snapshot: written only when more than one (machine_control.cc), and
// snapshots from before the field had one.
uint32_t saved_queues(const DiskConfig& saved) {
  return saved.queues ? saved.queues : 1;
}

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
  for (size_t i = 0; i < config.disks.size(); ++i) {
    if (config.disks[i].readonly != saved.disks[i].readonly)
      return make_error("disk {} is {}; in the snapshot it is {}", i,
                        config.disks[i].readonly ? "read-only" : "writable",
                        saved.disks[i].readonly ? "read-only" : "writable");
    if (config.disks[i].queues && config.disks[i].queues != saved_queues(saved.disks[i]))
      return make_error("disk {} has {} queues; in the snapshot it has {}", i,
                        config.disks[i].queues, saved_queues(saved.disks[i]));
  }
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
  auto memory =
      TRY(map_memory_image(dir + "/" + kSnapshotMemoryName, snapshot.memory, snapshot.id));
  VmConfig resolved = config;  // the disks' queues as the snapshot's guest had them
  for (size_t i = 0; i < resolved.disks.size(); ++i)
    resolved.disks[i].queues = saved_queues(snapshot.config.disks[i]);
  auto machine = TRY(build(resolved, kvm, console, virtio_console, std::move(memory)));
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

}  // namespace haven::vmm
