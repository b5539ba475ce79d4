#include "vmm/pci_platform.h"

#include <sys/eventfd.h>

#include <vector>

#include "arch/x86/layout.h"
#include "base/log.h"
#include "base/sys.h"

namespace haven::vmm {
namespace {

namespace x86 = arch::x86;
using devices::pci::MsiMessage;

constexpr uint32_t kPicPins = 16;

kvm_irq_routing_entry irqchip_route(uint32_t gsi, uint32_t chip, uint32_t pin) {
  kvm_irq_routing_entry entry{};
  entry.gsi = gsi;
  entry.type = KVM_IRQ_ROUTING_IRQCHIP;
  entry.u.irqchip.irqchip = chip;
  entry.u.irqchip.pin = pin;
  return entry;
}

// One device's vectors: GSIs [first, first + count), an eventfd with an irqfd for each.
class KvmMsiVectors final : public devices::pci::MsiVectors {
 public:
  KvmMsiVectors(KvmPciPlatform& platform, kvm::Vm& vm, uint32_t first_gsi)
      : m_platform(platform), m_vm(vm), m_first_gsi(first_gsi) {}
  ~KvmMsiVectors() override {
    for (size_t i = 0; i < m_events.size(); ++i) {
      (void)m_vm.deassign_irqfd(m_events[i].get(), m_first_gsi + static_cast<uint32_t>(i));
      (void)m_platform.route_msi(m_first_gsi + static_cast<uint32_t>(i), std::nullopt);
    }
  }

  Result<void> add_vector() {
    auto event = TRY(sys::eventfd(0, EFD_NONBLOCK));
    TRY(m_vm.assign_irqfd(event.get(), m_first_gsi + static_cast<uint32_t>(m_events.size())));
    m_events.push_back(std::move(event));
    return {};
  }

  Result<void> route(uint16_t vector, std::optional<MsiMessage> message) override {
    if (vector >= m_events.size()) return make_error("no MSI vector {}", vector);
    return m_platform.route_msi(m_first_gsi + vector, message);
  }

  void trigger(uint16_t vector) override {
    if (vector < m_events.size()) ::eventfd_write(m_events[vector].get(), 1);
  }

 private:
  KvmPciPlatform& m_platform;
  kvm::Vm& m_vm;
  uint32_t m_first_gsi;
  std::vector<UniqueFd> m_events;
};

}  // namespace

Result<std::unique_ptr<devices::pci::MsiVectors>> KvmPciPlatform::allocate_msi(uint16_t count) {
  uint32_t first;
  {
    MutexLock lock(m_mutex);
    if (m_next_gsi < x86::kIoapicPins) m_next_gsi = x86::kIoapicPins;
    if (m_next_gsi + count > kMaxGsi)
      return make_error("out of interrupt routes ({} in use)", m_next_gsi);
    first = m_next_gsi;
    m_next_gsi += count;
  }
  auto vectors = std::make_unique<KvmMsiVectors>(*this, m_vm, first);
  for (uint16_t i = 0; i < count; ++i) TRY(vectors->add_vector());
  return vectors;
}

Result<void> KvmPciPlatform::route_msi(uint32_t gsi, std::optional<MsiMessage> message) {
  MutexLock lock(m_mutex);
  if (message)
    m_msi_routes[gsi] = *message;
  else if (!m_msi_routes.erase(gsi))
    return {};
  return load_routes();
}

Result<void> KvmPciPlatform::load_routes() {
  // KVM's default table first (what it had before the first KVM_SET_GSI_ROUTING): GSIs 0-15
  // reach both the PICs and the IOAPIC, 16-23 the IOAPIC only.
  std::vector<kvm_irq_routing_entry> entries;
  for (uint32_t gsi = 0; gsi < x86::kIoapicPins; ++gsi) {
    if (gsi < kPicPins)
      entries.push_back(
          irqchip_route(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8));
    entries.push_back(irqchip_route(gsi, KVM_IRQCHIP_IOAPIC, gsi));
  }
  for (const auto& [gsi, message] : m_msi_routes) {
    kvm_irq_routing_entry entry{};
    entry.gsi = gsi;
    entry.type = KVM_IRQ_ROUTING_MSI;
    entry.u.msi.address_lo = static_cast<uint32_t>(message.address);
    entry.u.msi.address_hi = static_cast<uint32_t>(message.address >> 32);
    entry.u.msi.data = message.data;
    entries.push_back(entry);
  }
  return m_vm.set_gsi_routing(entries);
}

void KvmPciPlatform::set_intx(uint32_t slot, bool level) {
  MutexLock lock(m_mutex);
  uint32_t gsi = x86::pci_intx_gsi(slot);
  uint32_t& asserting = m_intx_slots[gsi - x86::kPciIntxFirstGsi];
  bool was = asserting != 0;
  asserting = level ? asserting | 1u << slot : asserting & ~(1u << slot);
  bool now = asserting != 0;
  if (was == now) return;
  if (auto result = m_vm.set_irq_line(gsi, now); !result)
    log::warn("PCI slot {} INTx: {}", slot, result.error().message());
}

Result<void> KvmPciPlatform::add_doorbell(int event_fd, uint64_t address, uint32_t length) {
  return m_vm.assign_ioeventfd(event_fd, address, length);
}

void KvmPciPlatform::remove_doorbell(int event_fd, uint64_t address, uint32_t length) {
  if (auto result = m_vm.deassign_ioeventfd(event_fd, address, length); !result)
    log::warn("doorbell: {}", result.error().message());
}

}  // namespace haven::vmm
