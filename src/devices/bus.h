#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/mutex.h"
#include "devices/device_state.h"

namespace haven::devices {

// A device model reachable through port I/O or MMIO.
//
// Threading rule: read() and write() are called from vCPU threads, possibly several at once;
// a device protects its own state (and whatever other threads, such as console input, touch).
class BusDevice {
 public:
  virtual ~BusDevice() = default;
  virtual std::string_view name() const = 0;
  // `offset` is relative to the start of the range the device was registered at; `data` is
  // 1, 2, 4 or 8 bytes as the guest accessed it.
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;

  // Snapshots: the device's state, and putting it back into a freshly built device of the
  // same kind before any vCPU runs. Devices without state keep these defaults.
  virtual DeviceState save_state() { return nullptr; }
  virtual Result<void> restore_state(const DeviceState& state) {
    (void)state;
    return {};
  }
};

// An address space (the I/O ports, or MMIO) with devices at non-overlapping ranges. Most
// ranges are registered while the machine is built, but a device may also appear, move or go
// while vCPUs run (a chipset register the guest programs, such as the PIIX4's PM base): every
// change publishes a new range table, and lookups read the current one without a lock. Old
// tables stay alive until the bus goes (changes are rare: a few per boot), so a bus takes at
// most kMaxChanges of them: a guest that moves a device in a loop cannot grow host memory
// without bound, it finds the device stuck where it was.
class Bus {
 public:
  explicit Bus(std::string_view name);
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  static constexpr size_t kMaxChanges = 4096;

  // Safe at any time, from any thread.
  Result<void> add(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t length);
  // Removes `device`'s range that starts at `base`; false if there is none (or the bus took
  // its last change).
  bool remove(const BusDevice& device, uint64_t base);

  // Dispatch an access. With no device there, reads see all ones (an open bus) and writes
  // vanish; both return false so the caller can log the stray access.
  bool read(uint64_t address, std::span<uint8_t> data) const;
  bool write(uint64_t address, std::span<const uint8_t> data) const;

 private:
  struct Range {
    uint64_t base;
    uint64_t length;
    std::shared_ptr<BusDevice> device;
  };
  using Table = std::vector<Range>;  // sorted by base
  const Range* find(uint64_t address, uint64_t length) const;
  // Makes `table` the current one (the caller holds m_mutex).
  void publish(std::unique_ptr<Table> table) HAVEN_REQUIRES(m_mutex);
  // False (and a warning, once) when the bus has taken kMaxChanges changes.
  bool may_change() HAVEN_REQUIRES(m_mutex);

  std::string_view m_name;
  std::atomic<const Table*> m_current;
  Mutex m_mutex;                                                           // serializes changes
  std::vector<std::unique_ptr<Table>> m_tables HAVEN_GUARDED_BY(m_mutex);  // the current one last
  bool m_warned HAVEN_GUARDED_BY(m_mutex) = false;
};

}  // namespace haven::devices
