#pragma once

// QEMU's firmware configuration interface (fw_cfg, docs/specs/fw_cfg.rst in QEMU), through
// which SeaBIOS and OVMF learn the machine: its memory map, CPU count, boot order, ACPI and
// SMBIOS tables, serial console. Items are byte strings under 16-bit keys; named files get
// keys from 0x20 and are listed in the directory item (0x19). On x86 it sits at ports
// 0x510-0x51b:
//   0x510 (16-bit write)  selects an item and rewinds it;
//   0x510/0x511 (8-bit)   read the next byte of the selected item (zeros past its end);
//   0x514-0x51b           the DMA address register, big-endian: a 32-bit write to 0x514 sets
//                         the high half, a 32-bit write to 0x518 the low half and starts the
//                         transfer; reads return "QEMU CFG".
// A DMA transfer is a 16-byte big-endian descriptor in guest memory {u32 control, u32 length,
// u64 address}: control may select an item (bits 31:16 with 0x08), then read (0x02), skip
// (0x04) or write (0x10) `length` bytes at the current offset. The device writes control back
// as 0 when done or 1 (error); firmware spins until it changes, so every transfer ends.
//
// Every descriptor field is guest-controlled: guest memory is reached only through
// GuestMemory's checked accessors, and a transfer that leaves guest RAM fails with the error
// bit. No item is writable (Haven offers none of QEMU's writable files).
//
// Threading: accesses come from any vCPU; one lock serializes them, as the single selector of
// the real interface requires anyway.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "devices/bus.h"
#include "memory/guest_memory.h"

namespace haven::devices::firmware {

class FwCfg final : public BusDevice {
 public:
  static constexpr uint16_t kBasePort = 0x510;
  static constexpr uint16_t kPortCount = 12;
  static constexpr uint16_t kSignatureKey = 0x00;
  static constexpr uint16_t kIdKey = 0x01;
  static constexpr uint16_t kFileDirectoryKey = 0x19;
  static constexpr uint16_t kFirstFileKey = 0x20;
  static constexpr size_t kMaxFileName = 55;  // the directory's 56 bytes, NUL included
  // Legacy keys both firmwares read.
  static constexpr uint16_t kCpuCountKey = 0x05;
  static constexpr uint16_t kMaxCpusKey = 0x0f;

  explicit FwCfg(const memory::GuestMemory& memory);

  // Makes a file's contents anew when firmware selects it (same size: the directory said so),
  // for contents that depend on what firmware programmed before it reads them.
  using Refresh = std::function<std::vector<uint8_t>()>;

  // While the machine is built. An item's bytes are whatever the firmware expects there
  // (little-endian integers for the numeric ones).
  void add_item(uint16_t key, std::vector<uint8_t> data);
  Result<void> add_file(const std::string& name, std::vector<uint8_t> data);
  Result<void> set_refresh(const std::string& name, Refresh refresh);
  // The key a file got, for tests.
  std::optional<uint16_t> file_key(const std::string& name) const;

  std::string_view name() const override { return "fw_cfg"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  // The selected item, its offset and the DMA address register (the items are the machine's
  // own, rebuilt from its config).
  DeviceState save_state() override;
  Result<void> restore_state(const DeviceState& state) override;

 private:
  void select(uint16_t key) HAVEN_REQUIRES(m_mutex);
  uint8_t next_byte() HAVEN_REQUIRES(m_mutex);
  void dma(uint64_t descriptor_address) HAVEN_REQUIRES(m_mutex);
  // One transfer's work; false when it must report an error.
  bool dma_transfer(uint32_t control, uint32_t length, uint64_t address) HAVEN_REQUIRES(m_mutex);
  const std::vector<uint8_t>* selected() const HAVEN_REQUIRES(m_mutex);
  void rebuild_directory() HAVEN_REQUIRES(m_mutex);

  const memory::GuestMemory& m_memory;
  mutable Mutex m_mutex;
  std::map<uint16_t, std::vector<uint8_t>> m_items HAVEN_GUARDED_BY(m_mutex);
  std::map<uint16_t, Refresh> m_refresh HAVEN_GUARDED_BY(m_mutex);
  std::vector<std::pair<std::string, uint16_t>> m_files HAVEN_GUARDED_BY(m_mutex);
  uint16_t m_key HAVEN_GUARDED_BY(m_mutex) = kSignatureKey;
  uint64_t m_offset HAVEN_GUARDED_BY(m_mutex) = 0;
  uint64_t m_dma_address HAVEN_GUARDED_BY(m_mutex) = 0;
};

// Little-endian integers as fw_cfg items hold them.
std::vector<uint8_t> le_bytes(uint64_t value, size_t width);

}  // namespace haven::devices::firmware
