#include "devices/bus.h"

#include <algorithm>
#include <cstring>

namespace haven::devices {

Result<void> Bus::add(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t length) {
  if (length == 0 || base + length < base)
    return make_error("{} bus: bad range {:#x}+{:#x} for {}", m_name, base, length, device->name());
  auto it = std::lower_bound(m_ranges.begin(), m_ranges.end(), base,
                             [](const Range& r, uint64_t b) { return r.base < b; });
  if (it != m_ranges.end() && it->base < base + length)
    return make_error("{} bus: {} at {:#x}+{:#x} overlaps {}", m_name, device->name(), base, length,
                      it->device->name());
  if (it != m_ranges.begin() && std::prev(it)->base + std::prev(it)->length > base)
    return make_error("{} bus: {} at {:#x}+{:#x} overlaps {}", m_name, device->name(), base, length,
                      std::prev(it)->device->name());
  m_ranges.insert(it, Range{base, length, std::move(device)});
  return {};
}

const Bus::Range* Bus::find(uint64_t address, uint64_t length) const {
  auto it = std::upper_bound(m_ranges.begin(), m_ranges.end(), address,
                             [](uint64_t a, const Range& r) { return a < r.base; });
  if (it == m_ranges.begin()) return nullptr;
  const Range& range = *std::prev(it);
  uint64_t offset = address - range.base;
  // The whole access must fall inside the range, without wrapping.
  if (offset >= range.length || length > range.length - offset) return nullptr;
  return &range;
}

bool Bus::read(uint64_t address, std::span<uint8_t> data) const {
  const Range* range = find(address, data.size());
  if (!range) {
    std::memset(data.data(), 0xff, data.size());
    return false;
  }
  range->device->read(address - range->base, data);
  return true;
}

bool Bus::write(uint64_t address, std::span<const uint8_t> data) const {
  const Range* range = find(address, data.size());
  if (!range) return false;
  range->device->write(address - range->base, data);
  return true;
}

}  // namespace haven::devices
