#pragma once

// Message-signalled interrupts as a device sees them: a vector is either routed to a message
// (the address/data pair the guest programmed) or not, and triggering it raises the interrupt.
// The machine implements this over KVM (one GSI and irqfd per vector); tests record triggers.

#include <cstdint>
#include <optional>

#include "base/error.h"

namespace haven::devices::pci {

struct MsiMessage {
  uint64_t address = 0;
  uint32_t data = 0;
  bool operator==(const MsiMessage&) const = default;
};

class MsiVectors {
 public:
  virtual ~MsiVectors() = default;
  // Routes `vector` to `message`, or unroutes it (nullopt). Called with the device's lock held.
  virtual Result<void> route(uint16_t vector, std::optional<MsiMessage> message) = 0;
  // Raises `vector`'s interrupt; safe from any thread.
  virtual void trigger(uint16_t vector) = 0;
};

}  // namespace haven::devices::pci
