#pragma once

#include "kvm/linux_kvm.h"

#include <cstdint>
#include <span>

#include "base/error.h"
#include "base/unique_fd.h"
#include "kvm/vcpu.h"

namespace haven::kvm {

// A KVM virtual machine fd. The ioctls here are safe to call from any thread once the VM is
// built (KVM serializes them), which is what device threads raising interrupts rely on.
class Vm {
 public:
  Vm(UniqueFd fd, size_t vcpu_mmap_size) : m_fd(std::move(fd)), m_vcpu_mmap_size(vcpu_mmap_size) {}

  int fd() const { return m_fd.get(); }

  Result<void> set_tss_address(uint64_t address);
  Result<void> set_identity_map_address(uint64_t address);
  // In-kernel PIC + IOAPIC + per-vCPU LAPICs; must precede vCPU creation.
  Result<void> create_irqchip();
  Result<void> create_pit2();
  // Whether the in-kernel PIT delivers the ticks a guest missed (late, back to back) or
  // drops them. Catching up keeps tick-counting guests' clocks (DOS, old kernels) right.
  Result<void> set_pit_reinject(bool reinject);
  // Maps host memory at `host` into the guest at `guest_address`.
  Result<void> set_user_memory_region(uint32_t slot, uint64_t guest_address,
                                      std::span<uint8_t> host, uint32_t flags = 0);
  // Drives an interrupt line (GSI) of the in-kernel irqchip.
  Result<void> set_irq_line(uint32_t gsi, bool level);
  // Replaces the whole GSI routing table (KVM keeps no other routes once this is called).
  Result<void> set_gsi_routing(std::span<const kvm_irq_routing_entry> entries);
  // A write to `event_fd` raises `gsi` in the kernel, without exiting to Haven (irqfd).
  Result<void> assign_irqfd(int event_fd, uint32_t gsi);
  Result<void> deassign_irqfd(int event_fd, uint32_t gsi);
  // A guest write of `length` bytes (any value) at MMIO `address` signals `event_fd` inside
  // KVM instead of exiting (ioeventfd): virtio doorbells.
  Result<void> assign_ioeventfd(int event_fd, uint64_t address, uint32_t length);
  Result<void> deassign_ioeventfd(int event_fd, uint64_t address, uint32_t length);
  Result<Vcpu> create_vcpu(uint32_t id);

 private:
  UniqueFd m_fd;
  size_t m_vcpu_mmap_size;
};

}  // namespace haven::kvm
