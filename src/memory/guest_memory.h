#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "base/mapping.h"
#include "memory/guest_addr.h"

namespace haven::memory {

struct RegionSpec {
  GuestAddr start;
  uint64_t size;
};

// One contiguous piece of guest RAM and the host memory behind it.
struct Region {
  GuestAddr start;
  Mapping host;
  // Anonymous memory (pages never touched are not resident and read as zero), or a private
  // mapping of a file (a restored snapshot: pages come from the file until written).
  bool anonymous = true;

  uint64_t size() const { return host.size(); }
  GuestAddr end() const { return start + host.size(); }
};

// All of a guest's RAM. Every access is bounds-checked with overflow-safe arithmetic; an access
// must lie inside one region (the guest sees holes between them).
//
// Thread-safety: the region list is fixed at creation; concurrent accesses to guest memory
// race exactly as they would on real hardware, which is the guest's business.
class GuestMemory {
 public:
  // Regions must be page-aligned, non-empty, sorted and non-overlapping.
  static Result<GuestMemory> create(std::span<const RegionSpec> specs);
  // The same regions mapped copy-on-write (MAP_PRIVATE) from `fd`, region i at
  // `file_offsets[i]`: nothing is copied up front, and the guest's writes never reach the file.
  static Result<GuestMemory> map_file(std::span<const RegionSpec> specs, int fd,
                                      std::span<const uint64_t> file_offsets);

  std::span<const Region> regions() const { return m_regions; }
  uint64_t total_size() const;

  // Host view of [addr, addr + length); fails unless it lies inside one region.
  Result<std::span<uint8_t>> span(GuestAddr addr, uint64_t length) const;
  bool contains(GuestAddr addr, uint64_t length) const { return span(addr, length).has_value(); }

  Result<void> read_bytes(GuestAddr addr, std::span<uint8_t> out) const;
  Result<void> write_bytes(GuestAddr addr, std::span<const uint8_t> data) const;
  Result<void> fill(GuestAddr addr, uint64_t length, uint8_t value) const;

  template <class T>
  requires std::is_trivially_copyable_v<T> Result<T> read(GuestAddr addr)
  const {
    T value;
    TRY(read_bytes(addr, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
    return value;
  }

  template <class T>
  requires std::is_trivially_copyable_v<T> Result<void> write(GuestAddr addr, const T& value)
  const {
    return write_bytes(addr, std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }

 private:
  explicit GuestMemory(std::vector<Region> regions) : m_regions(std::move(regions)) {}

  std::vector<Region> m_regions;
};

}  // namespace haven::memory
