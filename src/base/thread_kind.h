#pragma once

// What kind of thread the calling thread is: the VMM's main loop, a vCPU, or a device's worker.
// Devices and the VMM mark the threads they start; whoever confines threads by kind (src/jail)
// or names a thread in a message reads the mark. The marking code knows nothing of that use.

#include <string_view>

namespace haven {

enum class ThreadKind {
  other,          // not marked: a library's or a helper's thread
  main,           // the VMM's main loop
  vcpu,           // runs KVM_RUN for one vCPU
  device_worker,  // a device's I/O thread (virtio queues, the block stack, the RTC's timer)
};

// "main", "vCPU", "device worker", "unmarked": for messages.
std::string_view thread_kind_name(ThreadKind kind);

// Marks the calling thread as KIND, then calls the hook set by set_thread_kind_hook (if any).
void enter_thread_kind(ThreadKind kind);

// Marks the calling thread without calling the hook (a thread that is still setting up).
void mark_thread_kind(ThreadKind kind);

// The calling thread's mark. Async-signal-safe.
ThreadKind current_thread_kind();

// One process-wide hook, called by enter_thread_kind on the entering thread. Set it before
// any thread is marked (haven-vmm's test build sets one; src/jail/forbidden_syscall_trigger.h).
using ThreadKindHook = void (*)(ThreadKind kind);
void set_thread_kind_hook(ThreadKindHook hook);

}  // namespace haven
