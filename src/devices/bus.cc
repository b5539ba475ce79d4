#include "devices/bus.h"

#include <algorithm>
#include <cstring>

#include "base/log.h"

namespace haven::devices {

Bus::Bus(std::string_view name) : m_name(name) {
  m_tables.push_back(std::make_unique<Table>());
  m_current.store(m_tables.back().get(), std::memory_order_release);
}

Bus::~Bus() = default;

void Bus::publish(std::unique_ptr<Table> table) {
  m_current.store(table.get(), std::memory_order_release);
  m_tables.push_back(std::move(table));
}

bool Bus::may_change() {
  if (m_tables.size() <= kMaxChanges) return true;
  if (!m_warned)
    log::warn(
        "{} bus: its ranges changed {} times; no more changes (a guest moving a device in "
        "a loop?)",
        m_name, kMaxChanges);
  m_warned = true;
  return false;
}

Result<void> Bus::add(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t length) {
  if (length == 0 || base + length < base)
    return make_error("{} bus: bad range {:#x}+{:#x} for {}", m_name, base, length, device->name());
  MutexLock lock(m_mutex);
  if (!may_change())
    return make_error("{} bus: {} at {:#x}: the bus took its last change", m_name, device->name(),
                      base);
  auto table = std::make_unique<Table>(*m_tables.back());
  auto it = std::lower_bound(table->begin(), table->end(), base,
                             [](const Range& r, uint64_t b) { return r.base < b; });
  if (it != table->end() && it->base < base + length)
    return make_error("{} bus: {} at {:#x}+{:#x} overlaps {}", m_name, device->name(), base, length,
                      it->device->name());
  if (it != table->begin() && std::prev(it)->base + std::prev(it)->length > base)
    return make_error("{} bus: {} at {:#x}+{:#x} overlaps {}", m_name, device->name(), base, length,
                      std::prev(it)->device->name());
  table->insert(it, Range{base, length, std::move(device)});
  publish(std::move(table));
  return {};
}

bool Bus::remove(const BusDevice& device, uint64_t base) {
  MutexLock lock(m_mutex);
  if (!may_change()) return false;
  auto table = std::make_unique<Table>(*m_tables.back());
  auto it = std::find_if(table->begin(), table->end(), [&](const Range& range) {
    return range.base == base && range.device.get() == &device;
  });
  if (it == table->end()) return false;
  table->erase(it);
  publish(std::move(table));
  return true;
}

const Bus::Range* Bus::find(uint64_t address, uint64_t length) const {
  const Table& ranges = *m_current.load(std::memory_order_acquire);
  auto it = std::upper_bound(ranges.begin(), ranges.end(), address,
                             [](uint64_t a, const Range& r) { return a < r.base; });
  if (it == ranges.begin()) return nullptr;
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
