#pragma once

// Include <linux/kvm.h> through this header, never directly.
//
// Debian 12's kernel headers (linux-libc-dev 6.1) declare flexible arrays with
// __DECLARE_FLEX_ARRAY, whose C form wraps an empty struct. An empty struct has size 1 in C++,
// so kvm_cpuid2, kvm_msrs and friends grow by 4 bytes and every ioctl number computed from their
// size (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2, KVM_GET_MSRS, ...) is wrong: the kernel answers
// EINVAL. Later kernels fixed the macro for C++; this applies the same fix here.

#include <linux/stddef.h>

#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]

#include <linux/kvm.h>

static_assert(sizeof(kvm_cpuid2) == 8, "kvm_cpuid2 must match the kernel's C layout");
static_assert(sizeof(kvm_msrs) == 8, "kvm_msrs must match the kernel's C layout");
static_assert(sizeof(kvm_msr_list) == 4, "kvm_msr_list must match the kernel's C layout");
static_assert(sizeof(kvm_irq_routing) == 8, "kvm_irq_routing must match the kernel's C layout");
static_assert(KVM_GET_SUPPORTED_CPUID == 0xc008ae05, "KVM_GET_SUPPORTED_CPUID ioctl number");
