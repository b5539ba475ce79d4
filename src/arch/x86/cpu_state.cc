#include "arch/x86/cpu_state.h"

#include <array>

#include "arch/x86/layout.h"

namespace haven::arch::x86 {
namespace {

constexpr uint64_t kCr0ProtectionEnable = 1ull << 0;
constexpr uint64_t kCr0ExtensionType = 1ull << 4;
constexpr uint64_t kCr0Paging = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;

// Descriptor flags, in the layout gdt_entry() takes: bits 0-7 access byte, bits 12-15 the
// G/DB/L/AVL nibble.
constexpr uint16_t kCode64 = 0xa09b;  // present, code exec/read accessed, L=1, G=1
constexpr uint16_t kCode32 = 0xc09b;  // present, code exec/read accessed, D=1, G=1
constexpr uint16_t kData = 0xc093;    // present, data read/write accessed, B=1, G=1
constexpr uint16_t kTss = 0x008b;     // present, 32/64-bit TSS busy

}  // namespace

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((static_cast<uint64_t>(base) & 0xff000000) << (56 - 24)) |
         ((static_cast<uint64_t>(flags) & 0x0000f0ff) << 40) |
         ((static_cast<uint64_t>(limit) & 0x000f0000) << (48 - 16)) |
         ((static_cast<uint64_t>(base) & 0x00ffffff) << 16) |
         (static_cast<uint64_t>(limit) & 0x0000ffff);
}

kvm_segment segment_from_gdt_entry(uint64_t entry, uint16_t selector) {
  kvm_segment segment{};
  segment.base = static_cast<uint64_t>(((entry >> 16) & 0x00ffffff) | ((entry >> 32) & 0xff000000));
  uint32_t limit = static_cast<uint32_t>((entry & 0xffff) | ((entry >> 32) & 0x000f0000));
  segment.g = (entry >> 55) & 1;
  // With 4 KiB granularity the limit counts pages.
  segment.limit = segment.g ? (limit << 12) | 0xfff : limit;
  segment.selector = selector;
  segment.type = (entry >> 40) & 0xf;
  segment.s = (entry >> 44) & 1;
  segment.dpl = (entry >> 45) & 3;
  segment.present = (entry >> 47) & 1;
  segment.avl = (entry >> 52) & 1;
  segment.l = (entry >> 53) & 1;
  segment.db = (entry >> 54) & 1;
  segment.unusable = segment.present ? 0 : 1;
  return segment;
}

namespace {

std::array<uint64_t, 5> gdt_for(EntryMode mode) {
  return {
      0,
      0,
      gdt_entry(mode == EntryMode::long_mode ? kCode64 : kCode32, 0, 0xfffff),
      gdt_entry(kData, 0, 0xfffff),
      gdt_entry(kTss, 0, 0x67),
  };
}

}  // namespace

Result<void> write_gdt(const memory::GuestMemory& memory, EntryMode mode) {
  TRY(memory.write(memory::GuestAddr(kGdtAddress), gdt_for(mode)));
  TRY(memory.write(memory::GuestAddr(kIdtAddress), uint64_t{0}));
  return {};
}

void set_entry_registers(const EntryState& state, kvm_regs& regs, kvm_sregs& sregs) {
  auto gdt = gdt_for(state.mode);
  kvm_segment code = segment_from_gdt_entry(gdt[kBootCodeSelector / 8], kBootCodeSelector);
  kvm_segment data = segment_from_gdt_entry(gdt[kBootDataSelector / 8], kBootDataSelector);
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = segment_from_gdt_entry(gdt[kBootTssSelector / 8], kBootTssSelector);
  sregs.gdt.base = kGdtAddress;
  sregs.gdt.limit = static_cast<uint16_t>(sizeof(gdt) - 1);
  sregs.idt.base = kIdtAddress;
  sregs.idt.limit = 7;

  regs = {};
  regs.rflags = 0x2;  // bit 1 is reserved-one; interrupts off
  regs.rip = state.entry_point;
  if (state.mode == EntryMode::long_mode) {
    sregs.cr0 = kCr0ProtectionEnable | kCr0ExtensionType | kCr0Paging;
    sregs.cr3 = state.cr3;
    sregs.cr4 = kCr4Pae;
    sregs.efer = kEferLme | kEferLma;
    regs.rsi = state.boot_info;
    regs.rsp = regs.rbp = kBootStackPointer;
  } else {
    sregs.cr0 = kCr0ProtectionEnable | kCr0ExtensionType;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
    regs.rbx = state.boot_info;
  }
}

kvm_fpu initial_fpu() {
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;     // all x87 exceptions masked, extended precision
  fpu.mxcsr = 0x1f80;  // all SSE exceptions masked
  return fpu;
}

}  // namespace haven::arch::x86
