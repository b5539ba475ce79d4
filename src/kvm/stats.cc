#include "kvm/stats.h"

#include "kvm/linux_kvm.h"

#include <sys/ioctl.h>

#include <cstring>
#include <vector>

#include "base/sys.h"

namespace haven::kvm {

static_assert(sizeof(kvm_stats_desc) == 16, "kvm_stats_desc must match the kernel's C layout");

Result<KvmStats> KvmStats::open(int fd) {
  int stats = ::ioctl(fd, KVM_GET_STATS_FD, 0);
  if (stats < 0) return errno_error("KVM_GET_STATS_FD");
  UniqueFd owned(stats);
  kvm_stats_header header{};
  TRY(with_context(
      sys::read_at(stats, std::span(reinterpret_cast<uint8_t*>(&header), sizeof(header)), 0),
      "KVM stats header"));
  if (header.num_desc > 4096 || header.name_size == 0 || header.name_size > 256)
    return make_error("KVM stats: implausible header ({} descriptors, names of {} bytes)",
                      header.num_desc, header.name_size);
  size_t entry = sizeof(kvm_stats_desc) + header.name_size;
  std::vector<uint8_t> block(entry * header.num_desc);
  TRY(with_context(sys::read_at(stats, block, header.desc_offset), "KVM stats descriptors"));
  std::map<std::string, uint64_t, std::less<>> offsets;
  for (uint32_t i = 0; i < header.num_desc; ++i) {
    kvm_stats_desc desc{};
    std::memcpy(&desc, block.data() + i * entry, sizeof(desc));
    const char* name = reinterpret_cast<const char*>(block.data() + i * entry + sizeof(desc));
    std::string text(name, strnlen(name, header.name_size));
    if (desc.size == 0) continue;
    offsets[text] = uint64_t{header.data_offset} + desc.offset;
  }
  return KvmStats(std::move(owned), std::move(offsets));
}

Result<std::map<std::string, uint64_t>> KvmStats::read(
    std::span<const std::string_view> names) const {
  std::map<std::string, uint64_t> values;
  for (std::string_view name : names) {
    auto found = m_offsets.find(name);
    if (found == m_offsets.end()) continue;
    uint64_t value = 0;
    TRY(with_context(
        sys::read_at(m_fd.get(), std::span(reinterpret_cast<uint8_t*>(&value), sizeof(value)),
                     found->second),
        "KVM stat {}", name));
    values[std::string(name)] = value;
  }
  return values;
}

}  // namespace haven::kvm
