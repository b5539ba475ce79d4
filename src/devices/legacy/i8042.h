#pragma once

// The PC keyboard controller (an 8042) with a keyboard that answers its commands but has no keys
// (the guest's console is the serial port). Guests use it for:
//   - reset: writing 0xfe to the command port (Linux's `reboot=k`, OVMF's warm reset) or an
//     output port value with bit 0 clear pulses the CPU reset line;
//   - the A20 gate (command 0xd1), which DOS memory managers drive and then wait for the input
//     buffer to drain (KVM has no A20 mask: the bit is stored, memory always wraps above 1 MiB);
//   - probing: firmware self-tests the controller (0xaa -> 0x55), tests its interface (0xab ->
//     0x00), resets the keyboard (0xff -> 0xfa 0xaa) and reads its ID (0xf2 -> 0xfa 0xab 0x83).
//     Answering at once spares OVMF and SeaBIOS their seconds of time-outs.
// Registered at port 0x60 with length 5 (data at +0, status/command at +4). The input buffer is
// always empty (every write is handled at once); answers queue in the output buffer and raise
// IRQ 1 while the command byte enables it. No mouse: auxiliary commands answer "no device".
//
// Threading: vCPUs and snapshots; one lock.

#include <cstdint>
#include <deque>

#include "base/mutex.h"
#include "devices/bus.h"
#include "devices/guest_request.h"

namespace haven::devices::legacy {

class I8042 final : public BusDevice {
 public:
  static constexpr uint16_t kBasePort = 0x60;
  static constexpr uint16_t kPortCount = 5;
  static constexpr uint32_t kIrq = 1;

  explicit I8042(GuestRequestHandler on_request, IrqLine irq = {})
      : m_on_request(std::move(on_request)), m_irq(std::move(irq)) {}

  std::string_view name() const override { return "i8042"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  DeviceState save_state() override;
  Result<void> restore_state(const DeviceState& state) override;

 private:
  void controller_command(uint8_t command, bool& reset) HAVEN_REQUIRES(m_mutex);
  void data_write(uint8_t value, bool& reset) HAVEN_REQUIRES(m_mutex);
  void keyboard_command(uint8_t value) HAVEN_REQUIRES(m_mutex);
  void push(uint8_t byte) HAVEN_REQUIRES(m_mutex);
  uint8_t status() const HAVEN_REQUIRES(m_mutex);
  void update_irq() HAVEN_REQUIRES(m_mutex);

  GuestRequestHandler m_on_request;
  IrqLine m_irq;
  mutable Mutex m_mutex;
  std::deque<uint8_t> m_output
      HAVEN_GUARDED_BY(m_mutex);  // bytes the guest reads from the data port
  uint8_t m_command_byte HAVEN_GUARDED_BY(m_mutex) =
      0x45;  // keyboard interrupt, system flag, translation
  uint8_t m_output_port HAVEN_GUARDED_BY(m_mutex) =
      0x03;  // bit 0: CPU running (not reset); bit 1: A20 enabled
  uint8_t m_pending_command HAVEN_GUARDED_BY(m_mutex) =
      0;  // a controller command waiting for its data byte
  uint8_t m_pending_keyboard HAVEN_GUARDED_BY(m_mutex) =
      0;  // a keyboard command waiting for its argument
  bool m_last_was_command HAVEN_GUARDED_BY(m_mutex) = false;  // status bit 3
  bool m_self_tested HAVEN_GUARDED_BY(m_mutex) = false;       // status bit 2 (system flag)
  bool m_irq_level HAVEN_GUARDED_BY(m_mutex) = false;
};

}  // namespace haven::devices::legacy
