#pragma once

// The only "firmware" Haven puts in a guest: 16 bytes at the x86 reset vector (f000:fff0).
//
// Haven boots kernels directly, so nothing runs there at power-on. But a guest that reboots
// "through the BIOS" jumps there in real mode, as a real machine would: Linux does so when its
// reboot method is BIOS, and on x86 it picks EFI-then-BIOS by default whenever the ACPI tables
// say hardware-reduced (as Haven's do) — with no EFI, that ends at the reset vector. The stub
// asks for a reset the way the BIOS would, through the keyboard controller, so such a reboot
// reaches Haven as a reset instead of running off into empty memory.

#include <array>
#include <cstdint>

namespace haven::arch::x86 {

// Real-mode code: mov al, 0xfe; out 0x64, al; cli; hlt; jmp back to the hlt.
inline constexpr std::array<uint8_t, 8> kResetVectorStub = {0xb0, 0xfe, 0xe6, 0x64,
                                                            0xfa, 0xf4, 0xeb, 0xfd};

}  // namespace haven::arch::x86
