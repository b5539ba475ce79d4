#pragma once

#include <vector>

#include "kvm/vcpu.h"

namespace haven::arch::x86 {

inline constexpr uint32_t kMsrSysenterCs = 0x174;
inline constexpr uint32_t kMsrSysenterEsp = 0x175;
inline constexpr uint32_t kMsrSysenterEip = 0x176;
inline constexpr uint32_t kMsrTsc = 0x10;
inline constexpr uint32_t kMsrMiscEnable = 0x1a0;
inline constexpr uint32_t kMsrMtrrDefType = 0x2ff;
inline constexpr uint32_t kMsrStar = 0xc0000081;
inline constexpr uint32_t kMsrLstar = 0xc0000082;
inline constexpr uint32_t kMsrCstar = 0xc0000083;
inline constexpr uint32_t kMsrSyscallMask = 0xc0000084;
inline constexpr uint32_t kMsrKernelGsBase = 0xc0000102;

// MSR values every vCPU starts with, as firmware would leave them: system-call MSRs clear,
// fast string operations on, MTRRs enabled with write-back as the default memory type.
std::vector<kvm::MsrEntry> boot_msrs();

}  // namespace haven::arch::x86
