#include "memory/guest_memory.h"

#include <sys/mman.h>

#include <algorithm>

namespace haven::memory {
namespace {

constexpr uint64_t kPageSize = 4096;

}  // namespace

namespace {

Result<void> check_spec(const RegionSpec& spec, const std::vector<Region>& before) {
  if (spec.size == 0 || spec.start.value() % kPageSize != 0 || spec.size % kPageSize != 0)
    return make_error("guest memory region at {} of {} bytes is not page-aligned", spec.start,
                      spec.size);
  if (spec.start.value() + spec.size < spec.start.value())
    return make_error("guest memory region at {} of {} bytes wraps around", spec.start, spec.size);
  if (!before.empty() && spec.start < before.back().end())
    return make_error("guest memory region at {} overlaps or precedes the one before it",
                      spec.start);
  return {};
}

}  // namespace

Result<GuestMemory> GuestMemory::create(std::span<const RegionSpec> specs) {
  std::vector<Region> regions;
  regions.reserve(specs.size());
  for (const RegionSpec& spec : specs) {
    TRY(check_spec(spec, regions));
    Mapping host =
        TRY(with_context(Mapping::anonymous(spec.size), "guest memory region at {}", spec.start));
    regions.push_back(Region{spec.start, std::move(host)});
  }
  return GuestMemory(std::move(regions));
}

Result<GuestMemory> GuestMemory::map_file(std::span<const RegionSpec> specs, int fd,
                                          std::span<const uint64_t> file_offsets) {
  if (file_offsets.size() != specs.size())
    return make_error("{} memory regions but {} file offsets", specs.size(), file_offsets.size());
  std::vector<Region> regions;
  regions.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const RegionSpec& spec = specs[i];
    TRY(check_spec(spec, regions));
    if (file_offsets[i] % kPageSize)
      return make_error("guest memory region at {}: file offset {:#x} is not page-aligned",
                        spec.start, file_offsets[i]);
    Mapping host = TRY(with_context(
        Mapping::of_fd(fd, spec.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE,
                       static_cast<off_t>(file_offsets[i])),
        "guest memory region at {}", spec.start));
    regions.push_back(Region{spec.start, std::move(host), false});
  }
  return GuestMemory(std::move(regions));
}

uint64_t GuestMemory::total_size() const {
  uint64_t total = 0;
  for (const Region& region : m_regions) total += region.size();
  return total;
}

Result<std::span<uint8_t>> GuestMemory::span(GuestAddr addr, uint64_t length) const {
  // The last region starting at or below addr is the only candidate.
  auto it = std::upper_bound(m_regions.begin(), m_regions.end(), addr,
                             [](GuestAddr a, const Region& r) { return a < r.start; });
  if (it != m_regions.begin()) {
    const Region& region = *std::prev(it);
    uint64_t offset = addr.value() - region.start.value();
    // Overflow-safe: offset + length must neither wrap nor pass the region's end.
    if (offset <= region.size() && length <= region.size() - offset)
      return std::span<uint8_t>(region.host.data() + offset, length);
  }
  return make_error("guest range {}..+{:#x} is outside guest memory", addr, length);
}

Result<void> GuestMemory::read_bytes(GuestAddr addr, std::span<uint8_t> out) const {
  auto host = TRY(span(addr, out.size()));
  std::memcpy(out.data(), host.data(), out.size());
  return {};
}

Result<void> GuestMemory::write_bytes(GuestAddr addr, std::span<const uint8_t> data) const {
  auto host = TRY(span(addr, data.size()));
  std::memcpy(host.data(), data.data(), data.size());
  return {};
}

Result<void> GuestMemory::fill(GuestAddr addr, uint64_t length, uint8_t value) const {
  auto host = TRY(span(addr, length));
  std::memset(host.data(), value, host.size());
  return {};
}

}  // namespace haven::memory
