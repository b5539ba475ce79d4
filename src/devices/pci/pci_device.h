#pragma once

// A PCI endpoint (type 0 header): identity, memory BARs with the sizing protocol (write all
// ones, read back the size mask), a capability list, and MMIO dispatch to whichever BAR decodes
// an address. Subclasses implement their BARs' registers and may watch config writes (MSI-X
// control, for example).
//
// Threading: config accesses arrive under the PCI root's lock. MMIO arrives from any vCPU at
// any time; the decoded BAR addresses are atomics so dispatch needs no lock, and a subclass
// guards its own registers.

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

#include "devices/pci/pci_function.h"

namespace haven::devices::pci {

inline constexpr uint8_t kBar0 = 0x10;
inline constexpr uint8_t kCapabilitiesPointer = 0x34;
inline constexpr uint16_t kCommandMemorySpace = 1u << 1;
inline constexpr uint16_t kCommandInterruptDisable = 1u << 10;
inline constexpr uint16_t kStatusCapabilitiesList = 1u << 4;
inline constexpr uint8_t kCapabilityVendor = 0x09;
inline constexpr uint8_t kCapabilityMsix = 0x11;

struct PciIdentity {
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // class << 16 | subclass << 8 | programming interface
  uint16_t subsystem_vendor = 0;
  uint16_t subsystem = 0;
};

class PciDevice : public PciFunction {
 public:
  static constexpr int kBarCount = 6;

  explicit PciDevice(const PciIdentity& identity);

  void read_config(uint32_t offset, std::span<uint8_t> data) override;
  void write_config(uint32_t offset, std::span<const uint8_t> data) override;
  bool mmio_read(uint64_t address, std::span<uint8_t> data) override;
  bool mmio_write(uint64_t address, std::span<const uint8_t> data) override;
  // {"config": the 256 bytes}; restoring checks the identity and re-decodes the BARs.
  DeviceState save_state() override;
  Result<void> restore_state(const DeviceState& state) override;

  // A 64-bit, non-prefetchable memory BAR of `size` bytes (a power of two, at least 4 KiB),
  // using BAR registers `index` and `index + 1`.
  void add_memory_bar64(int index, uint64_t size);
  uint64_t bar_size(int index) const { return m_bars[index].size; }
  // Where firmware (Haven) placed the BAR before boot; the guest may move it.
  void place_bar(int index, uint64_t address);
  // The BAR's address while the device decodes memory, else nullopt.
  std::optional<uint64_t> bar_address(int index) const;

  // Appends a capability of `length` bytes (id and next pointer included) to the list;
  // returns its offset. The body is read-only unless the subclass marks bytes writable.
  uint8_t add_capability(uint8_t id, uint8_t length);

  void set_interrupt_pin(uint8_t pin) { m_config.set_u8(kInterruptPin, pin); }
  // The guest set "interrupt disable" in the command register: no INTx from this function.
  // Safe from any thread.
  bool intx_disabled() const {
    return m_command.load(std::memory_order_relaxed) & kCommandInterruptDisable;
  }

 protected:
  ConfigSpace& config() { return m_config; }
  // Accesses inside BAR `bar`; `offset` is from its start.
  virtual void bar_read(int bar, uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void bar_write(int bar, uint64_t offset, std::span<const uint8_t> data) = 0;
  // After a guest config write covering [offset, offset + length).
  virtual void config_written(uint32_t offset, uint32_t length) {
    (void)offset;
    (void)length;
  }
  // After a BAR moved or memory decoding was switched on or off.
  virtual void bars_changed() {}

 private:
  struct Bar {
    uint64_t size = 0;  // 0: unused
    bool is_64bit = false;
  };
  uint64_t programmed_address(int index) const;
  void update_decoding();

  ConfigSpace m_config;
  std::array<Bar, kBarCount> m_bars{};
  // Decoded base per BAR, or kNotDecoding.
  static constexpr uint64_t kNotDecoding = ~uint64_t{0};
  std::array<std::atomic<uint64_t>, kBarCount> m_decoded;
  std::atomic<uint16_t> m_command{0};
  uint8_t m_last_capability = 0;
  uint8_t m_next_capability_offset = 0x40;
};

}  // namespace haven::devices::pci
