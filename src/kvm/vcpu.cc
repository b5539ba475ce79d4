#include "kvm/vcpu.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "base/sys.h"

namespace haven::kvm {
namespace {

// kvm_msrs and kvm_cpuid2 end in flexible arrays: build them in suitably aligned storage.
template <class Header, class Entry>
std::unique_ptr<uint64_t[]> flexible_buffer(size_t count, Header** header) {
  size_t bytes = sizeof(Header) + count * sizeof(Entry);
  auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);
  *header = reinterpret_cast<Header*>(storage.get());
  return storage;
}

}  // namespace

Result<void> Vcpu::run() {
  int ret = ::ioctl(m_fd.get(), KVM_RUN, 0);
  if (ret < 0) {
    if (errno == EINTR || errno == EAGAIN) {
      run_state().exit_reason = KVM_EXIT_INTR;
      return {};
    }
    return errno_error("KVM_RUN on vCPU {}", m_id);
  }
  return {};
}

void Vcpu::request_exit() const {
  std::atomic_ref<uint8_t>(run_state().immediate_exit).store(1, std::memory_order_release);
}

void Vcpu::clear_exit_request() const {
  std::atomic_ref<uint8_t>(run_state().immediate_exit).store(0, std::memory_order_release);
}

Result<kvm_regs> Vcpu::get_regs() const {
  kvm_regs regs{};
  TRY(sys::ioctl(m_fd.get(), KVM_GET_REGS, &regs, "KVM_GET_REGS"));
  return regs;
}

Result<void> Vcpu::set_regs(const kvm_regs& regs) {
  TRY(sys::ioctl(m_fd.get(), KVM_SET_REGS, &regs, "KVM_SET_REGS"));
  return {};
}

Result<kvm_sregs> Vcpu::get_sregs() const {
  kvm_sregs sregs{};
  TRY(sys::ioctl(m_fd.get(), KVM_GET_SREGS, &sregs, "KVM_GET_SREGS"));
  return sregs;
}

Result<void> Vcpu::set_sregs(const kvm_sregs& sregs) {
  TRY(sys::ioctl(m_fd.get(), KVM_SET_SREGS, &sregs, "KVM_SET_SREGS"));
  return {};
}

Result<void> Vcpu::set_fpu(const kvm_fpu& fpu) {
  TRY(sys::ioctl(m_fd.get(), KVM_SET_FPU, &fpu, "KVM_SET_FPU"));
  return {};
}

Result<void> Vcpu::set_msrs(std::span<const MsrEntry> msrs) {
  kvm_msrs* header = nullptr;
  auto storage = flexible_buffer<kvm_msrs, kvm_msr_entry>(msrs.size(), &header);
  header->nmsrs = static_cast<uint32_t>(msrs.size());
  for (size_t i = 0; i < msrs.size(); ++i) {
    header->entries[i].index = msrs[i].index;
    header->entries[i].data = msrs[i].value;
  }
  // KVM_SET_MSRS returns how many it set; it stops at the first it refuses.
  int set = TRY(sys::ioctl(m_fd.get(), KVM_SET_MSRS, header, "KVM_SET_MSRS"));
  if (static_cast<size_t>(set) != msrs.size())
    return make_error("KVM_SET_MSRS on vCPU {}: MSR {:#x} was refused", m_id,
                      msrs[static_cast<size_t>(set)].index);
  return {};
}

Result<void> Vcpu::set_cpuid(std::span<const kvm_cpuid_entry2> entries) {
  kvm_cpuid2* header = nullptr;
  auto storage = flexible_buffer<kvm_cpuid2, kvm_cpuid_entry2>(entries.size(), &header);
  header->nent = static_cast<uint32_t>(entries.size());
  std::copy(entries.begin(), entries.end(), header->entries);
  TRY(sys::ioctl(m_fd.get(), KVM_SET_CPUID2, header, "KVM_SET_CPUID2"));
  return {};
}

Result<kvm_lapic_state> Vcpu::get_lapic() const {
  kvm_lapic_state lapic{};
  TRY(sys::ioctl(m_fd.get(), KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC"));
  return lapic;
}

Result<void> Vcpu::set_lapic(const kvm_lapic_state& lapic) {
  TRY(sys::ioctl(m_fd.get(), KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC"));
  return {};
}

}  // namespace haven::kvm
