#pragma once

// The PCI platform over KVM: MSI vectors as GSIs above the IOAPIC inputs, each with an irqfd
// (a device thread raises an interrupt by writing an eventfd; KVM delivers it without a VM
// exit); INTx lines as IOAPIC inputs 16-23, shared between slots; doorbells as ioeventfds.
// KVM_SET_GSI_ROUTING replaces the whole routing table, so this keeps the default irqchip
// routes (PIC and IOAPIC) in it alongside the MSI routes.

#include <array>
#include <map>

#include "base/mutex.h"
#include "devices/pci/pci_platform.h"
#include "kvm/vm.h"

namespace haven::vmm {

class KvmPciPlatform final : public devices::pci::PciPlatform {
 public:
  static constexpr uint32_t kMaxGsi = 1024;

  explicit KvmPciPlatform(kvm::Vm& vm) : m_vm(vm) {}

  Result<std::unique_ptr<devices::pci::MsiVectors>> allocate_msi(uint16_t count) override;
  void set_intx(uint32_t slot, bool level) override;
  Result<void> add_doorbell(int event_fd, uint64_t address, uint32_t length) override;
  void remove_doorbell(int event_fd, uint64_t address, uint32_t length) override;

  // Sets the route of `gsi` (nullopt: none) and reloads KVM's table.
  Result<void> route_msi(uint32_t gsi, std::optional<devices::pci::MsiMessage> message);

 private:
  Result<void> load_routes() HAVEN_REQUIRES(m_mutex);

  kvm::Vm& m_vm;
  Mutex m_mutex;
  uint32_t m_next_gsi HAVEN_GUARDED_BY(m_mutex) = 0;
  std::map<uint32_t, devices::pci::MsiMessage> m_msi_routes HAVEN_GUARDED_BY(m_mutex);
  std::array<uint32_t, 8> m_intx_slots
      HAVEN_GUARDED_BY(m_mutex){};  // per shared line: bit N set while slot N asserts
};

}  // namespace haven::vmm
