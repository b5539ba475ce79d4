#pragma once

// PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2) on bus 0: the 32-bit address
// register at port 0xCF8 (enable bit 31, bus, device, function, register) and the data window
// at 0xCFC-0xCFF. Registered over ports 0xCF8-0xCFF, it also answers the PC reset control
// register at 0xCF9 (a byte write with "reset CPU" set), which Linux's `reboot=pci` uses.
//
// Threading: config accesses come from any vCPU; one lock serializes them, as the single
// address register of real hardware requires anyway.

#include <array>
#include <memory>

#include "base/error.h"
#include "base/mutex.h"
#include "devices/bus.h"
#include "devices/guest_request.h"
#include "devices/pci/pci_function.h"

namespace haven::devices::pci {

class PciRoot final : public BusDevice {
 public:
  static constexpr uint16_t kBasePort = 0xcf8;
  static constexpr uint16_t kPortCount = 8;
  static constexpr uint32_t kDevicesPerBus = 32;
  static constexpr uint32_t kFunctionsPerDevice = 8;

  explicit PciRoot(GuestRequestHandler on_request) : m_on_request(std::move(on_request)) {}

  // Puts `function` at 00:device.fn (function 0 unless given). Only while the machine is
  // built: MMIO dispatch walks the slots without a lock. A device with functions besides 0
  // must say so in function 0's header type (bit 7), or software never looks past function 0.
  Result<void> add(uint32_t device, std::shared_ptr<PciFunction> function) {
    return add(device, 0, std::move(function));
  }
  Result<void> add(uint32_t device, uint32_t fn, std::shared_ptr<PciFunction> function);

  // An access to the PCI memory window at absolute `address`: the function whose BAR decodes
  // it answers; false if none does.
  bool mmio_read(uint64_t address, std::span<uint8_t> data);
  bool mmio_write(uint64_t address, std::span<const uint8_t> data);

  std::string_view name() const override { return "pci-root"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  // The address register and every function's state, by slot.
  DeviceState save_state() override;
  Result<void> restore_state(const DeviceState& state) override;

 private:
  // The function the address register selects, or null (nothing there: reads see ones).
  PciFunction* selected(uint32_t& register_offset) HAVEN_REQUIRES(m_mutex);

  Mutex m_mutex;
  GuestRequestHandler m_on_request;
  uint32_t m_address HAVEN_GUARDED_BY(m_mutex) = 0;
  uint8_t m_reset_control HAVEN_GUARDED_BY(m_mutex) = 0;
  // By device * kFunctionsPerDevice + function.
  // Filled while the machine is built, before any vCPU runs; only read after.
  std::array<std::shared_ptr<PciFunction>, kDevicesPerBus * kFunctionsPerDevice> m_functions;
};

// The PCI memory window on the MMIO bus, forwarding to the functions' BARs. Unclaimed
// addresses read as all ones, as a master abort does.
class PciMmioWindow final : public BusDevice {
 public:
  PciMmioWindow(std::shared_ptr<PciRoot> root, uint64_t base)
      : m_root(std::move(root)), m_base(base) {}
  std::string_view name() const override { return "pci-mmio-window"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  std::shared_ptr<PciRoot> m_root;
  uint64_t m_base;
};

}  // namespace haven::devices::pci
