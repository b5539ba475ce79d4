#pragma once

// What the machine gives PCI devices besides configuration cycles and MMIO: MSI vectors,
// their legacy INTx line, and doorbells (guest writes that signal an eventfd inside KVM
// without a VM exit). The VMM implements it over KVM; unit tests use a fake.

#include <cstdint>
#include <memory>

#include "base/error.h"
#include "devices/pci/msi.h"

namespace haven::devices::pci {

class PciPlatform {
 public:
  virtual ~PciPlatform() = default;
  virtual Result<std::unique_ptr<MsiVectors>> allocate_msi(uint16_t count) = 0;
  // Drives INTA# of the device in `slot` (routed to a GSI through the DSDT's _PRT). Lines are
  // shared between slots: the platform ORs them.
  virtual void set_intx(uint32_t slot, bool level) = 0;
  // A `length`-byte guest write at `address` signals `event_fd`.
  virtual Result<void> add_doorbell(int event_fd, uint64_t address, uint32_t length) = 0;
  virtual void remove_doorbell(int event_fd, uint64_t address, uint32_t length) = 0;
};

}  // namespace haven::devices::pci
