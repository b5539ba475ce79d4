#pragma once

// Everything KVM holds for a VM and its vCPUs that a snapshot must carry: taken from a paused
// VM, put back into a freshly created one (same memory layout, same irqchip and PIT) before
// any vCPU runs. The structs are the kernel's own (linux/kvm.h), which are ABI-stable.

#include "kvm/linux_kvm.h"

#include <cstdint>
#include <span>
#include <vector>

#include "base/error.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace haven::kvm {

struct VcpuState {
  std::vector<kvm_cpuid_entry2> cpuid;
  kvm_mp_state mp_state{};
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_xsave xsave{};  // FPU, SSE, AVX... (the legacy 4 KiB area; no AMX here)
  kvm_xcrs xcrs{};
  kvm_debugregs debugregs{};
  kvm_lapic_state lapic{};
  std::vector<MsrEntry> msrs;
  kvm_vcpu_events events{};
};

struct VmState {
  kvm_clock_data clock{};
  kvm_irqchip pic_master{};
  kvm_irqchip pic_slave{};
  kvm_irqchip ioapic{};
  kvm_pit_state2 pit{};
};

// The vCPU must not be running (its thread parked outside KVM_RUN, with no port or MMIO exit
// left to complete). `msr_indices` is what KVM says it can save (Kvm::msr_index_list); MSRs
// this vCPU refuses to read are left out.
Result<VcpuState> save_vcpu_state(const Vcpu& vcpu, std::span<const uint32_t> msr_indices);
Result<void> restore_vcpu_state(Vcpu& vcpu, const VcpuState& state);

Result<VmState> save_vm_state(const Vm& vm);
Result<void> restore_vm_state(Vm& vm, const VmState& state);

}  // namespace haven::kvm
