#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "arch/x86/cpu_state.h"
#include "base/error.h"
#include "devices/bus.h"
#include "devices/legacy/uart_8250.h"
#include "devices/pci/pci_root.h"
#include "devices/virtio/console.h"
#include "kvm/kvm.h"
#include "memory/guest_memory.h"
#include "vmm/console.h"
#include "vmm/pci_platform.h"
#include "vmm/stop_control.h"
#include "vmm/vm_config.h"

namespace haven::vmm {

// One virtual machine, built from a VmConfig: guest memory, KVM's in-kernel interrupt
// controllers and PIT, the legacy platform devices (8250, i8042, CMOS RTC, ACPI power
// controls, pvpanic), firmware tables (ACPI, MP), the kernel loaded and every vCPU set up.
class Machine {
 public:
  // `virtio_console`, when given, is the host end of the guest's /dev/hvc0.
  static Result<std::unique_ptr<Machine>> create(const VmConfig& config, const kvm::Kvm& kvm,
                                                 Console& console,
                                                 Console* virtio_console = nullptr);

  // Runs until the guest or the host stops it: one thread per vCPU, while this thread serves
  // console input and `signal_fd` (a signalfd for SIGINT/SIGTERM/SIGHUP, or -1).
  StopReason run(int signal_fd, std::chrono::steady_clock::time_point started);

  const memory::GuestMemory& memory() const { return m_memory; }

  Machine(kvm::Vm vm, memory::GuestMemory memory, std::unique_ptr<StopControl> stop,
          Console& console, Console* virtio_console);

 private:
  Result<void> add_devices(const VmConfig& config);
  Result<void> add_virtio_devices(const VmConfig& config, devices::pci::PciRoot& pci);
  Result<void> load_guest(const VmConfig& config);
  Result<void> create_vcpus(const kvm::Kvm& kvm, uint32_t count);

  kvm::Vm m_vm;
  memory::GuestMemory m_memory;
  // Declared before the buses: the devices on them use it until they are destroyed.
  std::unique_ptr<KvmPciPlatform> m_pci_platform;
  std::unique_ptr<StopControl> m_stop;
  Console& m_console;
  Console* m_virtio_console_host;
  devices::virtio::Console* m_virtio_console = nullptr;  // owned by its PCI function
  devices::Bus m_pio{"port I/O"};
  devices::Bus m_mmio{"MMIO"};
  std::shared_ptr<devices::legacy::Uart8250> m_uart;
  std::vector<kvm::Vcpu> m_vcpus;
  arch::x86::EntryState m_entry{};
};

}  // namespace haven::vmm
