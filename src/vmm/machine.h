#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "arch/x86/cpu_state.h"
#include "base/error.h"
#include "base/mapping.h"
#include "base/unique_fd.h"
#include "devices/bus.h"
#include "devices/chipset/piix4_pm.h"
#include "devices/firmware/fw_cfg.h"
#include "devices/firmware/pflash.h"
#include "devices/legacy/cmos_rtc.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/uart_8250.h"
#include "devices/pci/pci_root.h"
#include "devices/virtio/block.h"
#include "devices/virtio/console.h"
#include "devices/virtio/virtio_pci.h"
#include "kvm/kvm.h"
#include "kvm/stats.h"
#include "memory/guest_memory.h"
#include "vmm/boot_watch.h"
#include "vmm/console.h"
#include "vmm/control_protocol.h"
#include "vmm/control_socket.h"
#include "vmm/pci_platform.h"
#include "vmm/snapshot_file.h"
#include "vmm/stop_control.h"
#include "vmm/text_screen.h"
#include "vmm/vcpu_gate.h"
#include "vmm/vm_config.h"

namespace haven::vmm {

// What a snapshot took.
struct SnapshotResult {
  uint64_t memory_bytes = 0;  // of guest RAM written (the rest were holes)
  uint64_t disk_bytes = 0;    // copied from writable disks
  double paused_ms = 0;       // how long the guest stood still
  double total_ms = 0;
};

// One virtual machine, built from a VmConfig: guest memory, KVM's in-kernel interrupt
// controllers and PIT, the legacy platform devices (8250, i8042, CMOS RTC, ACPI power
// controls, pvpanic), firmware tables (ACPI, MP), the kernel loaded and every vCPU set up.
// Or rebuilt from a snapshot, continuing where it was.
class Machine {
 public:
  // `virtio_console`, when given, is the host end of the guest's /dev/hvc0.
  static Result<std::unique_ptr<Machine>> create(const VmConfig& config, const kvm::Kvm& kvm,
                                                 Console& console,
                                                 Console* virtio_console = nullptr);
  // The machine `snapshot` (read from `dir`) describes, with its memory mapped copy-on-write
  // from the snapshot and every vCPU and device as it was. `config` supplies the host side
  // (consoles, disk paths: copies of the snapshot's disks); its guest side (memory, vCPUs,
  // devices) must match the snapshot's.
  static Result<std::unique_ptr<Machine>> restore(const VmConfig& config, const kvm::Kvm& kvm,
                                                  Console& console, Console* virtio_console,
                                                  const std::string& dir, const Snapshot& snapshot);

  // Runs until the guest or the host stops it: one thread per vCPU, while this thread serves
  // console input, `signal_fd` (a signalfd for SIGINT/SIGTERM/SIGHUP, or -1) and the control
  // socket, when given.
  StopReason run(int signal_fd, std::chrono::steady_clock::time_point started,
                 ControlSocket* control = nullptr);

  const memory::GuestMemory& memory() const { return m_memory; }

  Machine(kvm::Vm vm, memory::GuestMemory memory, std::unique_ptr<StopControl> stop,
          Console& console, Console* virtio_console, VmConfig config);

 private:
  static Result<std::unique_ptr<Machine>> build(const VmConfig& config, const kvm::Kvm& kvm,
                                                Console& console, Console* virtio_console,
                                                memory::GuestMemory memory);
  // Makes every vCPU thread leave KVM_RUN (a signal, and immediate_exit for one not in it).
  void kick_vcpus();
  // While run() runs, on its thread. pause() parks the vCPUs and drains the devices.
  Result<void> pause();
  void resume();
  // Pauses (unless paused), writes the snapshot into `dir`, resumes (unless it was paused).
  Result<SnapshotResult> snapshot(const std::string& dir);
  // A control request's answer (vmm/control_protocol.h), an error answer when it failed.
  nlohmann::json handle_control(const nlohmann::json& request);
  Result<nlohmann::json> control_answer(const nlohmann::json& request);
  // Point-in-time views of a running guest's disks for a backup, all taken in one pause, and
  // their end (devices/virtio/block.h).
  Result<control::BackupBeginAnswer> begin_backup(const control::BackupBeginRequest& request);
  Result<void> end_backup(const control::BackupEndRequest& request);
  // Per vCPU its thread's CPU time and KVM's exit counters; per virtio device what it moved.
  nlohmann::json stats() const;
  devices::DeviceState save_devices();
  Result<void> restore_devices(const devices::DeviceState& state);

  Result<void> add_devices(const VmConfig& config, const kvm::Kvm& kvm);
  Result<void> add_virtio_devices(const VmConfig& config, devices::pci::PciRoot& pci,
                                  uint32_t first_slot);
  Result<void> load_guest(const VmConfig& config);
  Result<void> create_vcpus(const kvm::Kvm& kvm, uint32_t count);
  void add_vcpu(kvm::Vcpu vcpu);
  // Firmware boot (machine_firmware.cc): the PC chipset firmware expects and fw_cfg; the
  // firmware images mapped below 4 GiB (and OVMF's variable store as a flash chip); SeaBIOS
  // copied to its shadow area at power-on; a watch on the console for "nothing to boot".
  Result<void> add_firmware_platform(const VmConfig& config, const kvm::Kvm& kvm,
                                     devices::pci::PciRoot& pci,
                                     const devices::GuestRequestHandler& on_request);
  Result<void> map_firmware(const VmConfig& config, const kvm::Kvm& kvm);
  Result<void> fill_fw_cfg(const VmConfig& config, const kvm::Kvm& kvm);
  Result<void> load_firmware(const VmConfig& config);
  // A read-only memory slot over `image` at `guest_address`; returns the slot.
  Result<uint32_t> map_read_only(uint64_t guest_address, std::span<uint8_t> image);

  kvm::Vm m_vm;
  memory::GuestMemory m_memory;
  VmConfig m_config;
  uint32_t m_next_slot = 0;  // memory slots: RAM's, then the firmware's
  uint32_t m_physical_address_bits = 36;
  std::vector<uint32_t> m_msr_indices;  // what a snapshot saves
  // Declared before the buses: the devices on them use it until they are destroyed.
  std::unique_ptr<KvmPciPlatform> m_pci_platform;
  std::unique_ptr<StopControl> m_stop;
  Console& m_console;
  Console* m_virtio_console_host;
  devices::virtio::Console* m_virtio_console = nullptr;  // owned by its PCI function
  devices::Bus m_pio{"port I/O"};
  devices::Bus m_mmio{"MMIO"};
  std::shared_ptr<devices::legacy::Uart8250> m_uart;
  std::shared_ptr<devices::legacy::CmosRtc> m_cmos;
  std::shared_ptr<devices::legacy::I8042> m_i8042;
  std::shared_ptr<devices::pci::PciRoot> m_pci;
  std::vector<std::shared_ptr<devices::virtio::VirtioPci>> m_virtio;
  std::vector<devices::virtio::Block*> m_disks;  // by disk index, owned by their functions
  std::vector<uint32_t> m_disk_slots;            // their PCI slots, by disk index
  std::optional<uint32_t> m_cdrom_slot;
  // Firmware boot: the images behind the read-only slots, the variable store behind the
  // flash, fw_cfg, and the boot watch (null for a directly booted kernel).
  std::vector<Mapping> m_firmware_images;
  UniqueFd m_nvram_fd;
  Mapping m_nvram;       // the variable store file
  Mapping m_nvram_view;  // what the guest reads of it
  std::shared_ptr<devices::firmware::FwCfg> m_fw_cfg;
  std::shared_ptr<devices::firmware::Pflash> m_pflash;
  std::shared_ptr<devices::chipset::Piix4Pm> m_pm;
  std::shared_ptr<BootWatch> m_boot_watch;
  std::unique_ptr<TextScreen> m_text_screen;  // BIOS guests' screen on the serial console
  std::vector<kvm::Vcpu> m_vcpus;
  // KVM's counters per vCPU, opened with the vCPU: opening takes the vCPU's mutex, which a
  // vCPU halted inside KVM_RUN holds indefinitely (reading an open one does not).
  std::vector<std::optional<kvm::KvmStats>> m_vcpu_stats;
  std::unique_ptr<VcpuGate> m_gate;
  std::vector<std::jthread> m_threads;   // one per vCPU while run() runs
  std::vector<clockid_t> m_vcpu_clocks;  // their CPU-time clocks
  bool m_paused = false;
  arch::x86::EntryState m_entry{};
};

}  // namespace haven::vmm
