#include "kvm/vm.h"

#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "base/sys.h"

namespace haven::kvm {

Result<void> Vm::set_tss_address(uint64_t address) {
  TRY(sys::ioctl(m_fd.get(), KVM_SET_TSS_ADDR, address, "KVM_SET_TSS_ADDR"));
  return {};
}

Result<void> Vm::set_identity_map_address(uint64_t address) {
  TRY(sys::ioctl(m_fd.get(), KVM_SET_IDENTITY_MAP_ADDR, &address, "KVM_SET_IDENTITY_MAP_ADDR"));
  return {};
}

Result<void> Vm::create_irqchip() {
  TRY(sys::ioctl(m_fd.get(), KVM_CREATE_IRQCHIP, 0ul, "KVM_CREATE_IRQCHIP"));
  return {};
}

Result<void> Vm::create_pit2() {
  kvm_pit_config config{};
  // The PIT's speaker port 0x61 is answered in the kernel too, so guests that calibrate
  // against PIT channel 2 never exit for it.
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  TRY(sys::ioctl(m_fd.get(), KVM_CREATE_PIT2, &config, "KVM_CREATE_PIT2"));
  return {};
}

Result<void> Vm::set_pit_reinject(bool reinject) {
  kvm_reinject_control control{};
  control.pit_reinject = reinject ? 1 : 0;
  TRY(sys::ioctl(m_fd.get(), KVM_REINJECT_CONTROL, &control, "KVM_REINJECT_CONTROL"));
  return {};
}

Result<void> Vm::set_user_memory_region(uint32_t slot, uint64_t guest_address,
                                        std::span<uint8_t> host, uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = guest_address;
  region.memory_size = host.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(host.data());
  TRY(with_context(
      sys::ioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION"),
      "memory slot {} at guest {:#x} ({} bytes)", slot, guest_address, host.size()));
  return {};
}

Result<void> Vm::set_irq_line(uint32_t gsi, bool level) {
  kvm_irq_level irq{};
  irq.irq = gsi;
  irq.level = level ? 1 : 0;
  TRY(sys::ioctl(m_fd.get(), KVM_IRQ_LINE, &irq, "KVM_IRQ_LINE"));
  return {};
}

Result<void> Vm::set_gsi_routing(std::span<const kvm_irq_routing_entry> entries) {
  // kvm_irq_routing ends in a flexible array: build header and entries in one buffer.
  std::vector<uint64_t> buffer(
      (sizeof(kvm_irq_routing) + entries.size_bytes() + sizeof(uint64_t) - 1) / sizeof(uint64_t));
  auto* routing = reinterpret_cast<kvm_irq_routing*>(buffer.data());
  routing->nr = static_cast<uint32_t>(entries.size());
  routing->flags = 0;
  std::memcpy(reinterpret_cast<uint8_t*>(buffer.data()) + sizeof(kvm_irq_routing), entries.data(),
              entries.size_bytes());
  TRY(with_context(sys::ioctl(m_fd.get(), KVM_SET_GSI_ROUTING, routing, "KVM_SET_GSI_ROUTING"),
                   "{} routes", entries.size()));
  return {};
}

namespace {

Result<void> irqfd(int vm_fd, int event_fd, uint32_t gsi, uint32_t flags) {
  kvm_irqfd request{};
  request.fd = static_cast<uint32_t>(event_fd);
  request.gsi = gsi;
  request.flags = flags;
  TRY(with_context(sys::ioctl(vm_fd, KVM_IRQFD, &request, "KVM_IRQFD"), "GSI {}", gsi));
  return {};
}

Result<void> ioeventfd(int vm_fd, int event_fd, uint64_t address, uint32_t length, uint32_t flags) {
  kvm_ioeventfd request{};
  request.addr = address;
  request.len = length;
  request.fd = event_fd;
  request.flags = flags;
  TRY(with_context(sys::ioctl(vm_fd, KVM_IOEVENTFD, &request, "KVM_IOEVENTFD"),
                   "MMIO {:#x} ({} bytes)", address, length));
  return {};
}

}  // namespace

Result<void> Vm::assign_irqfd(int event_fd, uint32_t gsi) {
  return irqfd(m_fd.get(), event_fd, gsi, 0);
}

Result<void> Vm::deassign_irqfd(int event_fd, uint32_t gsi) {
  return irqfd(m_fd.get(), event_fd, gsi, KVM_IRQFD_FLAG_DEASSIGN);
}

Result<void> Vm::assign_ioeventfd(int event_fd, uint64_t address, uint32_t length) {
  return ioeventfd(m_fd.get(), event_fd, address, length, 0);
}

Result<void> Vm::deassign_ioeventfd(int event_fd, uint64_t address, uint32_t length) {
  return ioeventfd(m_fd.get(), event_fd, address, length, KVM_IOEVENTFD_FLAG_DEASSIGN);
}

Result<Vcpu> Vm::create_vcpu(uint32_t id) {
  int fd = TRY(
      sys::ioctl(m_fd.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id), "KVM_CREATE_VCPU"));
  UniqueFd vcpu_fd(fd);
  auto run = TRY(with_context(
      Mapping::of_fd(vcpu_fd.get(), m_vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED),
      "vCPU {} kvm_run area", id));
  return Vcpu(id, std::move(vcpu_fd), std::move(run));
}

}  // namespace haven::kvm
