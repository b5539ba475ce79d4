#pragma once

#include <atomic>
#include <memory>
#include <optional>

#include "base/error.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "vmm/stop_reason.h"

namespace haven::vmm {

// The one place a running VM's stop is decided. Any thread may request a stop; the first
// reason wins. The VMM's main loop waits on fd() and then stops the vCPUs.
class StopControl {
 public:
  static Result<std::unique_ptr<StopControl>> create();

  explicit StopControl(UniqueFd event) : m_event(std::move(event)) {}
  StopControl(const StopControl&) = delete;
  StopControl& operator=(const StopControl&) = delete;

  void request(StopReason reason);
  bool requested() const { return m_requested.load(std::memory_order_acquire); }
  std::optional<StopReason> reason() const;
  // Readable once a stop has been requested.
  int fd() const { return m_event.get(); }

 private:
  UniqueFd m_event;
  std::atomic<bool> m_requested{false};
  mutable Mutex m_mutex;
  std::optional<StopReason> m_reason HAVEN_GUARDED_BY(m_mutex);
};

}  // namespace haven::vmm
