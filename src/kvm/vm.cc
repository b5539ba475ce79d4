#include "kvm/vm.h"

#include <sys/mman.h>

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
