#include "base/uring.h"

#include <sys/eventfd.h>

#include <memory>

#include "base/sys.h"

namespace haven {

Result<std::unique_ptr<Uring>> Uring::create(unsigned entries) {
  auto uring = std::make_unique<Uring>(Key());
  if (int err = io_uring_queue_init(entries, &uring->m_ring, 0); err < 0)
    return std::unexpected(
        Error::from_errno(fmt::format("io_uring_queue_init({})", entries), -err));
  uring->m_initialized = true;
  uring->m_event = TRY(sys::eventfd(0, EFD_NONBLOCK));
  if (int err = io_uring_register_eventfd(&uring->m_ring, uring->m_event.get()); err < 0)
    return std::unexpected(Error::from_errno("io_uring_register_eventfd", -err));
  return uring;
}

Uring::~Uring() {
  if (m_initialized) io_uring_queue_exit(&m_ring);
}

}  // namespace haven
