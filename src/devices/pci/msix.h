#pragma once

// MSI-X (PCI Local Bus 3.0, 6.8.2): the capability's message control (enable, function mask),
// the vector table (address, data, per-vector mask) and the pending-bit array, both living in
// one of the device's BARs. A vector is routed to its message when it becomes deliverable;
// signalling a masked vector sets its pending bit, and unmasking delivers it.
//
// Thread-safe: table accesses come from vCPUs, signals from device threads.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/mutex.h"
#include "devices/device_state.h"
#include "devices/pci/config_space.h"
#include "devices/pci/msi.h"

namespace haven::devices::pci {

class Msix {
 public:
  static constexpr uint8_t kCapabilityLength = 12;
  static constexpr uint32_t kEntrySize = 16;

  Msix(uint16_t vector_count, std::unique_ptr<MsiVectors> vectors);

  uint16_t vector_count() const { return m_vector_count; }
  uint32_t table_size() const { return vector_count() * kEntrySize; }
  uint32_t pba_size() const { return (vector_count() + 63) / 64 * 8; }

  // Fills the capability at `offset` (allocated by the device): table and PBA in BAR `bar`.
  void install(ConfigSpace& config, uint8_t offset, uint8_t bar, uint32_t table_offset,
               uint32_t pba_offset);
  // After a guest config write: picks up enable and function mask from message control.
  void control_written(const ConfigSpace& config);

  // `offset` relative to the table / PBA start.
  void table_read(uint64_t offset, std::span<uint8_t> data);
  void table_write(uint64_t offset, std::span<const uint8_t> data);
  void pba_read(uint64_t offset, std::span<uint8_t> data);

  bool enabled() const;
  // Raises `vector` now, or leaves it pending while masked. False when MSI-X is off (the
  // device then uses INTx) or the vector does not exist.
  bool signal(uint16_t vector);

  // Snapshots: enable and mask bits, every entry and its pending bit; restoring routes the
  // deliverable vectors again.
  DeviceState save_state() const;
  Result<void> restore_state(const DeviceState& state);

 private:
  struct Entry {
    MsiMessage message;
    bool masked = true;
    bool pending = false;
    std::optional<MsiMessage> routed;
  };
  bool deliverable(const Entry& entry) const HAVEN_REQUIRES(m_mutex);
  // Brings the route and pending state of `vector` up to date after a change.
  void refresh(uint16_t vector) HAVEN_REQUIRES(m_mutex);

  mutable Mutex m_mutex;
  std::unique_ptr<MsiVectors> m_vectors;
  const uint16_t m_vector_count;
  std::vector<Entry> m_entries HAVEN_GUARDED_BY(m_mutex);
  uint8_t m_offset = 0;
  bool m_enabled HAVEN_GUARDED_BY(m_mutex) = false;
  bool m_function_masked HAVEN_GUARDED_BY(m_mutex) = false;
};

}  // namespace haven::devices::pci
