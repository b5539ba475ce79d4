#include "vmm/vcpu_gate.h"

namespace haven::vmm {

void VcpuGate::close() {
  MutexLock lock(m_mutex);
  m_closed = true;
}

bool VcpuGate::wait_parked(std::chrono::milliseconds timeout) {
  MutexUniqueLock lock(m_mutex);
  auto parked = [this]() HAVEN_REQUIRES(m_mutex) { return m_parked + m_gone >= m_vcpus; };
  return m_changed.wait_for(lock.native(), timeout, parked);
}

void VcpuGate::open() {
  {
    MutexLock lock(m_mutex);
    m_closed = false;
  }
  m_changed.notify_all();
}

bool VcpuGate::closed() const {
  MutexLock lock(m_mutex);
  return m_closed;
}

void VcpuGate::park() {
  MutexUniqueLock lock(m_mutex);
  if (!m_closed) return;
  ++m_parked;
  m_changed.notify_all();
  m_changed.wait(lock.native(), [this]() HAVEN_REQUIRES(m_mutex) { return !m_closed; });
  --m_parked;
}

void VcpuGate::leave() {
  {
    MutexLock lock(m_mutex);
    ++m_gone;
  }
  m_changed.notify_all();
}

}  // namespace haven::vmm
