#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"

namespace haven::kvm {

// KVM's binary statistics of one VM or vCPU (KVM_GET_STATS_FD, Linux 5.14 and later): what
// the kernel counts, such as every VM exit, including those it handles itself (HLT, most
// interrupts) that never reach Haven.
class KvmStats {
 public:
  // `fd` is a VM or vCPU fd.
  static Result<KvmStats> open(int fd);

  // The current value of each of `names` that this kernel counts (the first value of each).
  Result<std::map<std::string, uint64_t>> read(std::span<const std::string_view> names) const;

 private:
  KvmStats(UniqueFd fd, std::map<std::string, uint64_t, std::less<>> offsets)
      : m_fd(std::move(fd)), m_offsets(std::move(offsets)) {}

  UniqueFd m_fd;
  std::map<std::string, uint64_t, std::less<>> m_offsets;  // name -> file offset of its data
};

}  // namespace haven::kvm
