#include "kvm/cpu_state.h"

#include <sys/ioctl.h>

#include <memory>

#include "base/sys.h"
#include "kvm/list_ioctl.h"

namespace haven::kvm {
namespace {

template <class T>
Result<T> get(int fd, unsigned long request, const char* name) {
  T value{};
  TRY(sys::ioctl(fd, request, &value, name));
  return value;
}

template <class T>
Result<void> set(int fd, unsigned long request, const T& value, const char* name) {
  TRY(sys::ioctl(fd, request, &value, name));
  return {};
}

// Reads `indices` in one KVM_GET_MSRS, dropping each MSR KVM refuses (it stops at the first).
Result<std::vector<MsrEntry>> read_msrs(int fd, std::span<const uint32_t> indices) {
  std::vector<uint32_t> wanted(indices.begin(), indices.end());
  while (true) {
    size_t bytes = sizeof(kvm_msrs) + wanted.size() * sizeof(kvm_msr_entry);
    auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);
    auto* msrs = reinterpret_cast<kvm_msrs*>(storage.get());
    msrs->nmsrs = static_cast<uint32_t>(wanted.size());
    for (size_t i = 0; i < wanted.size(); ++i) msrs->entries[i].index = wanted[i];
    int read = TRY(sys::ioctl(fd, KVM_GET_MSRS, msrs, "KVM_GET_MSRS"));
    if (static_cast<size_t>(read) == wanted.size()) {
      std::vector<MsrEntry> result;
      result.reserve(wanted.size());
      for (size_t i = 0; i < wanted.size(); ++i)
        result.push_back({msrs->entries[i].index, msrs->entries[i].data});
      return result;
    }
    wanted.erase(wanted.begin() + read);
  }
}

Result<std::vector<kvm_cpuid_entry2>> read_cpuid(int fd) {
  return read_list_ioctl<kvm_cpuid2, kvm_cpuid_entry2>(fd, KVM_GET_CPUID2, "KVM_GET_CPUID2", 64,
                                                       4096);
}

Result<kvm_irqchip> get_chip(int fd, uint32_t id) {
  kvm_irqchip chip{};
  chip.chip_id = id;
  TRY(sys::ioctl(fd, KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP"));
  return chip;
}

}  // namespace

Result<VcpuState> save_vcpu_state(const Vcpu& vcpu, std::span<const uint32_t> msr_indices) {
  int fd = vcpu.fd();
  VcpuState state;
  state.cpuid = TRY(read_cpuid(fd));
  state.mp_state = TRY(get<kvm_mp_state>(fd, KVM_GET_MP_STATE, "KVM_GET_MP_STATE"));
  state.regs = TRY(get<kvm_regs>(fd, KVM_GET_REGS, "KVM_GET_REGS"));
  state.sregs = TRY(get<kvm_sregs>(fd, KVM_GET_SREGS, "KVM_GET_SREGS"));
  state.xsave = TRY(get<kvm_xsave>(fd, KVM_GET_XSAVE, "KVM_GET_XSAVE"));
  state.xcrs = TRY(get<kvm_xcrs>(fd, KVM_GET_XCRS, "KVM_GET_XCRS"));
  state.debugregs = TRY(get<kvm_debugregs>(fd, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS"));
  state.lapic = TRY(get<kvm_lapic_state>(fd, KVM_GET_LAPIC, "KVM_GET_LAPIC"));
  state.msrs = TRY(read_msrs(fd, msr_indices));
  state.events = TRY(get<kvm_vcpu_events>(fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS"));
  return state;
}

// The order matters: CPUID before the MSRs it gates, sregs before the MSRs that depend on the
// mode (EFER), the LAPIC before its timer MSRs (TSC deadline), and events last (KVM
// re-evaluates pending interrupts against everything else).
Result<void> restore_vcpu_state(Vcpu& vcpu, const VcpuState& state) {
  int fd = vcpu.fd();
  TRY(vcpu.set_cpuid(state.cpuid));
  TRY(set(fd, KVM_SET_MP_STATE, state.mp_state, "KVM_SET_MP_STATE"));
  TRY(set(fd, KVM_SET_REGS, state.regs, "KVM_SET_REGS"));
  TRY(set(fd, KVM_SET_SREGS, state.sregs, "KVM_SET_SREGS"));
  TRY(set(fd, KVM_SET_XSAVE, state.xsave, "KVM_SET_XSAVE"));
  TRY(set(fd, KVM_SET_XCRS, state.xcrs, "KVM_SET_XCRS"));
  TRY(set(fd, KVM_SET_DEBUGREGS, state.debugregs, "KVM_SET_DEBUGREGS"));
  TRY(set(fd, KVM_SET_LAPIC, state.lapic, "KVM_SET_LAPIC"));
  TRY(vcpu.set_msrs(state.msrs));
  kvm_vcpu_events events = state.events;
  events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
  TRY(set(fd, KVM_SET_VCPU_EVENTS, events, "KVM_SET_VCPU_EVENTS"));
  return {};
}

Result<VmState> save_vm_state(const Vm& vm) {
  int fd = vm.fd();
  VmState state;
  state.clock = TRY(get<kvm_clock_data>(fd, KVM_GET_CLOCK, "KVM_GET_CLOCK"));
  state.pic_master = TRY(get_chip(fd, KVM_IRQCHIP_PIC_MASTER));
  state.pic_slave = TRY(get_chip(fd, KVM_IRQCHIP_PIC_SLAVE));
  state.ioapic = TRY(get_chip(fd, KVM_IRQCHIP_IOAPIC));
  state.pit = TRY(get<kvm_pit_state2>(fd, KVM_GET_PIT2, "KVM_GET_PIT2"));
  return state;
}

Result<void> restore_vm_state(Vm& vm, const VmState& state) {
  int fd = vm.fd();
  // The guest's clock resumes where it stopped: no realtime correction for the time between.
  kvm_clock_data clock{};
  clock.clock = state.clock.clock;
  TRY(set(fd, KVM_SET_CLOCK, clock, "KVM_SET_CLOCK"));
  TRY(set(fd, KVM_SET_IRQCHIP, state.pic_master, "KVM_SET_IRQCHIP (PIC master)"));
  TRY(set(fd, KVM_SET_IRQCHIP, state.pic_slave, "KVM_SET_IRQCHIP (PIC slave)"));
  TRY(set(fd, KVM_SET_IRQCHIP, state.ioapic, "KVM_SET_IRQCHIP (IOAPIC)"));
  TRY(set(fd, KVM_SET_PIT2, state.pit, "KVM_SET_PIT2"));
  return {};
}

}  // namespace haven::kvm
