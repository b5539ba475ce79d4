#pragma once

#include "kvm/linux_kvm.h"

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/mapping.h"
#include "base/unique_fd.h"

namespace haven::kvm {

struct MsrEntry {
  uint32_t index;
  uint64_t value;
};

// One virtual CPU: its fd and the shared kvm_run page. Only the thread that runs the vCPU
// calls run(); any thread may call request_exit().
class Vcpu {
 public:
  Vcpu(uint32_t id, UniqueFd fd, Mapping run)
      : m_id(id), m_fd(std::move(fd)), m_run(std::move(run)) {}

  uint32_t id() const { return m_id; }
  int fd() const { return m_fd.get(); }
  kvm_run& run_state() const { return *reinterpret_cast<kvm_run*>(m_run.data()); }
  size_t run_area_size() const { return m_run.size(); }

  // KVM_RUN; returns once the vCPU exits to userspace. An exit caused by a signal or by
  // request_exit() is reported as KVM_EXIT_INTR in run_state().exit_reason.
  Result<void> run();
  // Makes the next or current KVM_RUN return with KVM_EXIT_INTR (together with a signal to
  // the vCPU thread, which interrupts a KVM_RUN already under way).
  void request_exit() const;
  void clear_exit_request() const;

  Result<kvm_regs> get_regs() const;
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> get_sregs() const;
  Result<void> set_sregs(const kvm_sregs& sregs);
  Result<void> set_fpu(const kvm_fpu& fpu);
  Result<void> set_msrs(std::span<const MsrEntry> msrs);
  Result<void> set_cpuid(std::span<const kvm_cpuid_entry2> entries);
  Result<kvm_lapic_state> get_lapic() const;
  Result<void> set_lapic(const kvm_lapic_state& lapic);

 private:
  uint32_t m_id;
  UniqueFd m_fd;
  Mapping m_run;
};

}  // namespace haven::kvm
