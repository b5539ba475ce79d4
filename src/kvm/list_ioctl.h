#pragma once

// KVM's list-reading ioctls (KVM_GET_SUPPORTED_CPUID, KVM_GET_CPUID2, KVM_GET_MSR_INDEX_LIST)
// take a header whose first field is a u32 entry count, then a flexible array of entries; KVM
// answers E2BIG until the buffer holds them all.

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/sys.h"

namespace haven::kvm {

// Reads the list, growing the buffer from `capacity` entries, doubling up to `limit`.
template <class Header, class Entry>
Result<std::vector<Entry>> read_list_ioctl(int fd, unsigned long request, const char* name,
                                           size_t capacity, size_t limit) {
  for (; capacity <= limit; capacity *= 2) {
    size_t bytes = sizeof(Header) + capacity * sizeof(Entry);
    auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);
    auto* base = reinterpret_cast<uint8_t*>(storage.get());
    auto count = static_cast<uint32_t>(capacity);
    std::memcpy(base, &count, sizeof(count));
    auto result = sys::ioctl(fd, request, base, name);
    if (!result && result.error().code() == E2BIG) continue;
    if (!result) return std::unexpected(std::move(result).error());
    std::memcpy(&count, base, sizeof(count));
    if (count > capacity)
      return make_error("{}: {} entries in a buffer of {}", name, count, capacity);
    auto* entries = reinterpret_cast<const Entry*>(base + sizeof(Header));
    return std::vector<Entry>(entries, entries + count);
  }
  return make_error("{}: more than {} entries", name, limit);
}

}  // namespace haven::kvm
