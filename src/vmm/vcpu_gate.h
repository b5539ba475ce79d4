#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>

#include "base/error.h"
#include "base/mutex.h"

namespace haven::vmm {

// Parks vCPU threads outside KVM_RUN, so their state can be read (a snapshot) while nothing
// runs. The controller closes the gate, kicks every vCPU out of KVM_RUN, and waits until all
// are parked; a vCPU parks only after an exit caused by the kick, when KVM has completed any
// port or MMIO instruction it was in (KVM_RUN with immediate_exit does that first).
class VcpuGate {
 public:
  explicit VcpuGate(size_t vcpus) : m_vcpus(vcpus) {}

  // Controller side. close() then kick the vCPUs; wait_parked() is false if they did not all
  // park within `timeout`. open() lets them go.
  void close();
  bool wait_parked(std::chrono::milliseconds timeout);
  void open();
  bool closed() const;

  // vCPU side: waits while the gate is closed. leave(): the thread ends (it counts as parked
  // from then on, so a guest whose vCPU crashed can still be paused).
  void park();
  void leave();

 private:
  const size_t m_vcpus;
  mutable Mutex m_mutex;
  std::condition_variable m_changed;
  bool m_closed HAVEN_GUARDED_BY(m_mutex) = false;
  size_t m_parked HAVEN_GUARDED_BY(m_mutex) = 0;
  size_t m_gone HAVEN_GUARDED_BY(m_mutex) = 0;
};

}  // namespace haven::vmm
