#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

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
  uint8_t read_register(uint8_t reg);
  void write_register(uint8_t reg, uint8_t value);
  uint8_t interrupt_identification() const;
  uint8_t modem_status() const;
  void update_irq();

  std::mutex m_mutex;
  ByteSink m_output;
  IrqLine m_irq;
  std::deque<uint8_t> m_input;
  uint8_t m_ier = 0;
  uint8_t m_lcr = 0;
  uint8_t m_mcr = 0;
  uint8_t m_fcr = 0;
  uint8_t m_scratch = 0;
  uint16_t m_divisor = 12;  // 9600 baud
  bool m_thr_empty_pending = false;
  bool m_irq_level = false;
  std::atomic<bool> m_baud_rate_set{false};
};

}  // namespace haven::devices::legacy
