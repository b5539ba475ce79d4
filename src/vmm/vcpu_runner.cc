#include "vmm/vcpu_runner.h"

#include <signal.h>

#include <cstdlib>
#include <set>

#include "base/log.h"
#include "base/mutex.h"
#include "base/thread_kind.h"

namespace haven::vmm {
namespace {

void on_kick(int) {}

// Stray accesses are logged once per address: guests probe many ports nothing answers.
void note_stray_access(const char* space, uint64_t address, bool is_write) {
  static Mutex mutex;
  static std::set<uint64_t> seen HAVEN_GUARDED_BY(mutex);
  {
    MutexLock lock(mutex);
    if (!seen.insert(address).second) return;
  }
  log::debug("guest {} {} {:#x}: no device there", is_write ? "wrote" : "read", space, address);
}

// HAVEN_TRACE_IO=1 logs every port access (a debugging aid: it slows the guest down a lot).
bool trace_io() {
  static const bool enabled = std::getenv("HAVEN_TRACE_IO") != nullptr;
  return enabled;
}

void handle_io(kvm::Vcpu& vcpu, const devices::Bus& bus, StopControl& stop) {
  kvm_run& run = vcpu.run_state();
  const auto& io = run.io;
  // KVM chose the data offset, but check it lies in the kvm_run area before trusting it.
  uint64_t bytes = uint64_t{io.size} * io.count;
  if (io.data_offset < sizeof(kvm_run) || io.data_offset + bytes > vcpu.run_area_size()) {
    stop.request({StopKind::error, fmt::format("vCPU {}: KVM reported port I/O data outside "
                                               "the kvm_run area",
                                               vcpu.id())});
    return;
  }
  auto* data = reinterpret_cast<uint8_t*>(&run) + io.data_offset;
  for (uint32_t i = 0; i < io.count; ++i) {
    std::span<uint8_t> item(data + uint64_t{i} * io.size, io.size);
    bool handled =
        io.direction == KVM_EXIT_IO_OUT ? bus.write(io.port, item) : bus.read(io.port, item);
    if (!handled) note_stray_access("port", io.port, io.direction == KVM_EXIT_IO_OUT);
    if (trace_io())
      log::debug("vCPU {} {} port {:#x} size {} value {:#x}", vcpu.id(),
                 io.direction == KVM_EXIT_IO_OUT ? "out" : "in", io.port, io.size,
                 item.size() == 1   ? item[0]
                 : item.size() == 2 ? item[0] | item[1] << 8
                                    : 0);
  }
}

void handle_mmio(kvm::Vcpu& vcpu, const devices::Bus& bus) {
  auto& mmio = vcpu.run_state().mmio;
  if (mmio.len > sizeof(mmio.data)) return;
  std::span<uint8_t> data(mmio.data, mmio.len);
  bool handled = mmio.is_write ? bus.write(mmio.phys_addr, data) : bus.read(mmio.phys_addr, data);
  if (!handled) note_stray_access("MMIO", mmio.phys_addr, mmio.is_write);
}

void crash(kvm::Vcpu& vcpu, StopControl& stop, const std::string& what) {
  stop.request({StopKind::crash, fmt::format("guest crashed: {} on vCPU {} ({})", what, vcpu.id(),
                                             describe_registers(vcpu))});
}

const char* internal_error_name(uint32_t suberror) {
  switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
      return "instruction emulation failed";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
      return "exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
      return "event delivery failed";
    default:
      return "KVM internal error";
  }
}

}  // namespace

int kick_signal() {
  return SIGRTMIN;
}

void install_kick_handler() {
  struct sigaction action {};
  action.sa_handler = on_kick;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  ::sigaction(kick_signal(), &action, nullptr);
}

std::string describe_registers(const kvm::Vcpu& vcpu) {
  auto regs = vcpu.get_regs();
  auto sregs = vcpu.get_sregs();
  if (!regs || !sregs) return "registers unavailable";
  return fmt::format(
      "rip={:#x} rsp={:#x} rflags={:#x} rax={:#x} rbx={:#x} rcx={:#x} rdx={:#x} rsi={:#x} "
      "rdi={:#x} cs={:#x} cr0={:#x} cr2={:#x} cr3={:#x} cr4={:#x} efer={:#x}",
      regs->rip, regs->rsp, regs->rflags, regs->rax, regs->rbx, regs->rcx, regs->rdx, regs->rsi,
      regs->rdi, sregs->cs.selector, sregs->cr0, sregs->cr2, sregs->cr3, sregs->cr4, sregs->efer);
}

void run_vcpu(kvm::Vcpu& vcpu, VcpuBuses buses, StopControl& stop, VcpuGate& gate,
              std::chrono::steady_clock::time_point started) {
  struct Leave {
    VcpuGate& gate;
    ~Leave() { gate.leave(); }
  } leave{gate};
  enter_thread_kind(ThreadKind::vcpu);
  sigset_t kick;
  sigemptyset(&kick);
  sigaddset(&kick, kick_signal());
  pthread_sigmask(SIG_UNBLOCK, &kick, nullptr);

  bool first_exit = vcpu.id() == 0;
  while (!stop.requested()) {
    if (auto result = vcpu.run(); !result) {
      stop.request({StopKind::error, result.error().message()});
      return;
    }
    kvm_run& run = vcpu.run_state();
    if (first_exit) {
      first_exit = false;
      auto elapsed = std::chrono::steady_clock::now() - started;
      log::debug("vCPU 0 first exit {:.3f} ms after start",
                 std::chrono::duration<double, std::milli>(elapsed).count());
    }
    switch (run.exit_reason) {
      case KVM_EXIT_IO:
        handle_io(vcpu, buses.pio, stop);
        break;
      case KVM_EXIT_MMIO:
        handle_mmio(vcpu, buses.mmio);
        break;
      case KVM_EXIT_INTR:
        vcpu.clear_exit_request();
        if (gate.closed()) gate.park();
        break;
      case KVM_EXIT_SHUTDOWN:
        if (buses.triple_fault_resets)
          stop.request({StopKind::reset, "the guest reset (triple fault)"});
        else
          crash(vcpu, stop, "triple fault");
        return;
      case KVM_EXIT_INTERNAL_ERROR:
        crash(vcpu, stop, internal_error_name(run.internal.suberror));
        return;
      case KVM_EXIT_FAIL_ENTRY:
        crash(vcpu, stop,
              fmt::format("VM entry failed (hardware reason {:#x})",
                          run.fail_entry.hardware_entry_failure_reason));
        return;
      case KVM_EXIT_HLT:
        crash(vcpu, stop, "halted with no interrupt controller to wake it");
        return;
      case KVM_EXIT_SYSTEM_EVENT:
        if (run.system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
          stop.request({StopKind::power_off, "the guest powered off"});
        else if (run.system_event.type == KVM_SYSTEM_EVENT_RESET)
          stop.request({StopKind::reset, "the guest asked for a reset"});
        else
          crash(vcpu, stop, fmt::format("system event {}", run.system_event.type));
        return;
      default:
        crash(vcpu, stop, fmt::format("unexpected KVM exit {}", run.exit_reason));
        return;
    }
  }
}

}  // namespace haven::vmm
