#pragma once

// A CFI flash chip with Intel's command set, as QEMU's pflash_cfi01 models it for x86 guest
// firmware: OVMF keeps its UEFI variables (the varstore, a per-guest copy of OVMF_VARS.fd) in
// one. The chip's contents are the varstore file (`array`, a shared mapping of it); the guest
// reads a copy of them (`view`) mapped as a read-only memory slot, so reads cost nothing and
// only writes (commands) reach this device.
//
// A real chip answers reads with its status register, not the array, once a command takes it
// out of read-array mode. Haven shows the status in the view's byte at the address the command
// was written to -- where firmware reads it (OVMF's flash probe writes 0x70 and reads the same
// byte) -- and puts the array's byte back when the chip returns to read-array mode. The slot
// never changes: withdrawing it for every command, as QEMU does, makes the guest fault its way
// back into the variable store each time, and that traffic, under nested virtualization, trips
// a QEMU bug that aborts the rig (docs/RIG.md). Reads that do reach this device (none while the
// slot is mapped) answer as the chip would.
//
// Commands, as OVMF uses them (OvmfPkg/QemuFlashFvbServicesRuntimeDxe/QemuFlash.c) and QEMU
// answers them:
//   0xff, 0xf0, 0x00  read array
//   0x50              clear status (to 0), back to read array: OVMF's probe then expects 0x70
//                     to read back 0x00, which is how it tells flash from RAM or ROM
//   0x70              read status (0x80 "ready" once an operation completed)
//   0x10, 0x40        program: the next write stores its bytes
//   0x20 (+ 0xd0)     erase the 4 KiB sector the write falls in, to 0xff
//   0x90, 0x98        read ID (zeros) and CFI query
//   0x60 (+ 0xd0/01)  block lock commands: accepted, nothing is ever locked
// Programmed data is stored as written (not ANDed with the old bits), as QEMU does. What the
// guest programs or erases reaches the file's page cache at once (a crash of Haven loses
// nothing) and is synced to disk when the operation is complete (`persist`).
//
// Threading: writes come from any vCPU (a UEFI OS calls SetVariable on whichever CPU it
// likes); one lock serializes them.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "base/mutex.h"
#include "devices/bus.h"

namespace haven::devices::firmware {

class Pflash final : public BusDevice {
 public:
  static constexpr uint64_t kSectorSize = 4096;
  // Makes [offset, offset + length) of the array durable.
  using Persist = std::function<void(uint64_t offset, uint64_t length)>;

  // `array` is the chip's contents (a multiple of the sector size), `view` what the guest reads
  // (the same size, a copy of `array` to begin with); both must outlive the device. A
  // read-only chip answers every command but changes nothing.
  Pflash(std::span<uint8_t> array, std::span<uint8_t> view, bool writable, Persist persist);

  std::string_view name() const override { return "pflash"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  // The command state (the array itself is the varstore file, saved on its own).
  DeviceState save_state() override;
  Result<void> restore_state(const DeviceState& state) override;

  bool in_read_array_mode() const;
  uint8_t status() const;

 private:
  // Cycle state: which command is being carried out and whether its data write is due.
  enum class Mode : uint8_t { read_array, status, program, erase, id, query, lock };
  // Enters `mode` because of a command written at `offset`.
  void enter(Mode mode, uint64_t offset) HAVEN_REQUIRES(m_mutex);
  // The view shows the status at `offset` (nullopt: nowhere, the array everywhere).
  void show_status_at(std::optional<uint64_t> offset) HAVEN_REQUIRES(m_mutex);
  void program(uint64_t offset, std::span<const uint8_t> data) HAVEN_REQUIRES(m_mutex);
  void erase(uint64_t offset) HAVEN_REQUIRES(m_mutex);
  uint8_t query_byte(uint64_t offset) const HAVEN_REQUIRES(m_mutex);

  std::span<uint8_t> m_array;
  std::span<uint8_t> m_view;
  bool m_writable;
  Persist m_persist;
  mutable Mutex m_mutex;
  Mode m_mode HAVEN_GUARDED_BY(m_mutex) = Mode::read_array;
  bool m_data_cycle HAVEN_GUARDED_BY(m_mutex) = false;  // the command's second write is due
  uint8_t m_status HAVEN_GUARDED_BY(m_mutex) = 0x80;
  std::optional<uint64_t> m_status_cell
      HAVEN_GUARDED_BY(m_mutex);  // where the view shows the status instead of data
};

}  // namespace haven::devices::firmware
