#include "vmm/stop_control.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "base/sys.h"

namespace haven::vmm {

Result<std::unique_ptr<StopControl>> StopControl::create() {
  UniqueFd event = TRY(sys::eventfd(0, EFD_NONBLOCK));
  return std::make_unique<StopControl>(std::move(event));
}

void StopControl::request(StopReason reason) {
  {
    MutexLock lock(m_mutex);
    if (m_reason) return;
    m_reason = std::move(reason);
  }
  m_requested.store(true, std::memory_order_release);
  uint64_t one = 1;
  ssize_t ignored = ::write(m_event.get(), &one, sizeof(one));
  (void)ignored;  // an eventfd write only fails on counter overflow
}

std::optional<StopReason> StopControl::reason() const {
  MutexLock lock(m_mutex);
  return m_reason;
}

}  // namespace haven::vmm
