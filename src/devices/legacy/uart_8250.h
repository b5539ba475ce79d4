#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>

#include "base/mutex.h"
#include "devices/bus.h"
#include "devices/guest_request.h"

namespace haven::devices::legacy {

// Where the UART's transmitted bytes go (the console backend). Called with the UART's lock
// held, from a vCPU thread.
using ByteSink = std::function<void(std::span<const uint8_t>)>;

// A 16550A UART as Linux's 8250 driver sees it: eight registers, FIFOs reported as present,
// transmit completing instantly, modem lines that say "connected", loopback for the driver's
// self-test, and an interrupt line gated by MCR.OUT2 as on a PC.
class Uart8250 final : public BusDevice {
 public:
  static constexpr size_t kInputCapacity = 64 * 1024;

  Uart8250(ByteSink output, IrqLine irq) : m_output(std::move(output)), m_irq(std::move(irq)) {}

  std::string_view name() const override { return "uart-8250"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Bytes typed by the user; returns how many were taken (the rest does not fit).
  size_t enqueue_input(std::span<const uint8_t> bytes);

  // Bytes for the console that are not the guest's transmission (Haven's own, such as a text
  // screen drawn on it), sent to the sink under the UART's lock so that they never land in the
  // middle of the guest's output.
  void emit(std::span<const uint8_t> bytes);

  // The guest has set the baud rate (written the divisor latch): its own serial driver runs
  // the port. BIOS console redirection (SeaBIOS's) never does. Any thread.
  bool baud_rate_set() const { return m_baud_rate_set.load(std::memory_order_relaxed); }

  // Registers and typed-ahead input (the interrupt line's level lives in the irqchip state).
  DeviceState save_state() override;
  Result<void> restore_state(const DeviceState& state) override;

 private:
  uint8_t read_register(uint8_t reg) HAVEN_REQUIRES(m_mutex);
  void write_register(uint8_t reg, uint8_t value) HAVEN_REQUIRES(m_mutex);
  uint8_t interrupt_identification() const HAVEN_REQUIRES(m_mutex);
  uint8_t modem_status() const HAVEN_REQUIRES(m_mutex);
  void update_irq() HAVEN_REQUIRES(m_mutex);

  Mutex m_mutex;
  ByteSink m_output;
  IrqLine m_irq;
  std::deque<uint8_t> m_input HAVEN_GUARDED_BY(m_mutex);
  uint8_t m_ier HAVEN_GUARDED_BY(m_mutex) = 0;
  uint8_t m_lcr HAVEN_GUARDED_BY(m_mutex) = 0;
  uint8_t m_mcr HAVEN_GUARDED_BY(m_mutex) = 0;
  uint8_t m_fcr HAVEN_GUARDED_BY(m_mutex) = 0;
  uint8_t m_scratch HAVEN_GUARDED_BY(m_mutex) = 0;
  uint16_t m_divisor HAVEN_GUARDED_BY(m_mutex) = 12;  // 9600 baud
  bool m_thr_empty_pending HAVEN_GUARDED_BY(m_mutex) = false;
  bool m_irq_level HAVEN_GUARDED_BY(m_mutex) = false;
  std::atomic<bool> m_baud_rate_set{false};
};

}  // namespace haven::devices::legacy
