#pragma once

#include "devices/bus.h"
#include "devices/guest_request.h"

namespace haven::devices::legacy {

// The PC keyboard controller, reduced to what guests use it for here: Linux's `reboot=k` and
// OVMF's warm reset pulse the CPU reset line by writing 0xfe to the command port. Registered at
// port 0x60 with length 5 (data at +0, status/command at +4). No keyboard is attached. By
// default status says "nothing to read, ready for commands"; `Presence::reset_line_only` reads
// all ones instead, the answer of a PC without a controller, so firmware skips its keyboard
// probing (OVMF's takes a second otherwise) while the reset command still works.
class I8042 final : public BusDevice {
 public:
  static constexpr uint16_t kBasePort = 0x60;
  static constexpr uint16_t kPortCount = 5;
  enum class Presence { controller, reset_line_only };

  explicit I8042(GuestRequestHandler on_request, Presence presence = Presence::controller)
      : m_on_request(std::move(on_request)), m_presence(presence) {}

  std::string_view name() const override { return "i8042"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  GuestRequestHandler m_on_request;
  Presence m_presence;
};

}  // namespace haven::devices::legacy
