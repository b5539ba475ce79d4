#pragma once

#include "devices/bus.h"
#include "devices/guest_request.h"

namespace haven::devices::legacy {

// The registers Haven's hardware-reduced FADT points at, three byte-wide ports:
//   +0 sleep control: SLP_EN (bit 5) with SLP_TYP (bits 4:2) = the \_S5 value powers off;
//   +1 sleep status: reads 0 (never woken);
//   +2 reset: writing the FADT's RESET_VALUE resets the machine.
class PowerControls final : public BusDevice {
 public:
  static constexpr uint16_t kPortCount = 3;

  PowerControls(uint8_t s5_sleep_type, uint8_t reset_value, GuestRequestHandler on_request)
      : m_s5_sleep_type(s5_sleep_type),
        m_reset_value(reset_value),
        m_on_request(std::move(on_request)) {}

  std::string_view name() const override { return "acpi-power-controls"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  uint8_t m_s5_sleep_type;
  uint8_t m_reset_value;
  GuestRequestHandler m_on_request;
};

// The pvpanic device (QEMU's "QEMU0001"): the guest reads which events are supported, and
// writes bit 0 when its kernel panics (bit 1, "crash dump loaded", is only noted).
class Pvpanic final : public BusDevice {
 public:
  explicit Pvpanic(GuestRequestHandler on_request) : m_on_request(std::move(on_request)) {}

  std::string_view name() const override { return "pvpanic"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  GuestRequestHandler m_on_request;
};

}  // namespace haven::devices::legacy
