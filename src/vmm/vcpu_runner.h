#pragma once

#include <chrono>

#include "devices/bus.h"
#include "kvm/vcpu.h"
#include "vmm/stop_control.h"
#include "vmm/vcpu_gate.h"

namespace haven::vmm {

// The signal that interrupts a vCPU thread's KVM_RUN. Its handler does nothing: the point is
// the EINTR. install_kick_handler() must run once before vCPU threads start.
int kick_signal();
void install_kick_handler();

struct VcpuBuses {
  const devices::Bus& pio;
  const devices::Bus& mmio;
  // A triple fault resets the machine, as on a PC (firmware guests: SeaBIOS and other boot
  // code reboot this way); otherwise it is a crash, reported with the registers.
  bool triple_fault_resets = false;
};

// Runs `vcpu` on the calling thread until `stop` is requested, dispatching port and MMIO
// exits to the buses; guest crashes and KVM failures become stop requests. A kick while
// `gate` is closed parks the thread until it opens. `started` is when haven-vmm began, for
// the boot-time log line of vCPU 0's first exit.
void run_vcpu(kvm::Vcpu& vcpu, VcpuBuses buses, StopControl& stop, VcpuGate& gate,
              std::chrono::steady_clock::time_point started);

// "rip=0x... rsp=... cr0=..." for crash reports; best effort.
std::string describe_registers(const kvm::Vcpu& vcpu);

}  // namespace haven::vmm
