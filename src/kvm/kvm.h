#pragma once

#include "kvm/linux_kvm.h"

#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "kvm/vm.h"

namespace haven::kvm {

// What kind of virtualization stands behind /dev/kvm.
enum class Flavor {
  hardware,  // VT-x or AMD-V: any guest runs at full speed
  pvm,       // kvm_pvm: only PVM-enabled guest kernels run; others are emulated, slowly
};

// The /dev/kvm system fd. Opening it checks the API version and every capability Haven's
// machine model relies on, so a missing one is reported once, clearly, up front.
class Kvm {
 public:
  static constexpr const char* kDefaultPath = "/dev/kvm";
  static Result<Kvm> open(const std::string& path = kDefaultPath);

  int fd() const { return m_fd.get(); }
  Flavor flavor() const { return m_flavor; }

  // KVM_CHECK_EXTENSION: 0 when absent, else a capability-specific positive value.
  Result<int> check_extension(long capability) const;
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  // The MSRs KVM can save and restore for a vCPU (KVM_GET_MSR_INDEX_LIST).
  Result<std::vector<uint32_t>> msr_index_list() const;
  Result<Vm> create_vm() const;

 private:
  Kvm(UniqueFd fd, Flavor flavor) : m_fd(std::move(fd)), m_flavor(flavor) {}

  UniqueFd m_fd;
  Flavor m_flavor;
};

// Looks at the host, not at /dev/kvm: PVM is detected by its module.
Flavor detect_flavor();

}  // namespace haven::kvm
