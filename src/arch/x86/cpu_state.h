#pragma once

#include "kvm/linux_kvm.h"

#include <cstdint>

#include "base/error.h"
#include "memory/guest_memory.h"

namespace haven::arch::x86 {

// GDT selectors the Linux boot protocols name: __BOOT_CS and __BOOT_DS.
inline constexpr uint16_t kBootCodeSelector = 0x10;
inline constexpr uint16_t kBootDataSelector = 0x18;
inline constexpr uint16_t kBootTssSelector = 0x20;

enum class EntryMode {
  long_mode,       // Linux 64-bit boot protocol: paging on, RSI = zero page
  protected_mode,  // PVH: 32-bit flat, paging off, EBX = start info
};

// A GDT descriptor as the CPU reads it from memory.
uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
// The same descriptor as KVM takes it in kvm_sregs (KVM does not read the GDT back).
kvm_segment segment_from_gdt_entry(uint64_t entry, uint16_t selector);

// Writes the GDT (and an empty IDT) for `mode` to guest memory.
Result<void> write_gdt(const memory::GuestMemory& memory, EntryMode mode);

// The boot vCPU's state at the kernel's entry. `sregs` should come from KVM_GET_SREGS so the
// fields Haven does not set (APIC base, interrupt bitmap) keep KVM's values.
struct EntryState {
  EntryMode mode;
  uint64_t entry_point;
  uint64_t boot_info;  // zero page (long mode) or PVH start info (protected mode)
  uint64_t cr3;        // long mode only
};
void set_entry_registers(const EntryState& state, kvm_regs& regs, kvm_sregs& sregs);

// x87/SSE state after reset, as firmware leaves it.
kvm_fpu initial_fpu();

}  // namespace haven::arch::x86
