#include "arch/x86/msrs.h"

namespace haven::arch::x86 {
namespace {

constexpr uint64_t kMiscEnableFastStrings = 1;
constexpr uint64_t kMtrrEnable = 1 << 11;
constexpr uint64_t kMemoryTypeWriteBack = 6;

}  // namespace

std::vector<kvm::MsrEntry> boot_msrs() {
  return {
      {kMsrSysenterCs, 0},
      {kMsrSysenterEsp, 0},
      {kMsrSysenterEip, 0},
      {kMsrStar, 0},
      {kMsrCstar, 0},
      {kMsrKernelGsBase, 0},
      {kMsrSyscallMask, 0},
      {kMsrLstar, 0},
      {kMsrTsc, 0},
      {kMsrMiscEnable, kMiscEnableFastStrings},
      {kMsrMtrrDefType, kMtrrEnable | kMemoryTypeWriteBack},
  };
}

}  // namespace haven::arch::x86
