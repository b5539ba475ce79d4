#include "vmm/vcpu_gate.h"

namespace haven::vmm {

void VcpuGate::close() {
  std::lock_guard lock(m_mutex);
  m_closed = true;
}

bool VcpuGate::wait_parked(std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  return m_changed.wait_for(lock, timeout, [this] { return m_parked + m_gone >= m_vcpus; });
}

void VcpuGate::open() {
  {
    std::lock_guard lock(m_mutex);
    m_closed = false;
  }
  m_changed.notify_all();
}

bool VcpuGate::closed() const {
  std::lock_guard lock(m_mutex);
  return m_closed;
}

void VcpuGate::park() {
  std::unique_lock lock(m_mutex);
  if (!m_closed) return;
  ++m_parked;
  m_changed.notify_all();
  m_changed.wait(lock, [this] { return !m_closed; });
  --m_parked;
}

void VcpuGate::leave() {
  {
    std::lock_guard lock(m_mutex);
    ++m_gone;
  }
  m_changed.notify_all();
}

}  // namespace haven::vmm
