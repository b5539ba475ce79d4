#include "base/thread_kind.h"

#include <atomic>

namespace haven {

namespace {

thread_local ThreadKind t_kind = ThreadKind::other;
std::atomic<ThreadKindHook> g_hook{nullptr};

}  // namespace

std::string_view thread_kind_name(ThreadKind kind) {
  switch (kind) {
    case ThreadKind::main:
      return "main";
    case ThreadKind::vcpu:
      return "vCPU";
    case ThreadKind::device_worker:
      return "device worker";
    case ThreadKind::other:
      break;
  }
  return "unmarked";
}

void mark_thread_kind(ThreadKind kind) {
  t_kind = kind;
}

void enter_thread_kind(ThreadKind kind) {
  t_kind = kind;
  if (ThreadKindHook hook = g_hook.load(std::memory_order_acquire)) hook(kind);
}

ThreadKind current_thread_kind() {
  return t_kind;
}

void set_thread_kind_hook(ThreadKindHook hook) {
  g_hook.store(hook, std::memory_order_release);
}

}  // namespace haven
