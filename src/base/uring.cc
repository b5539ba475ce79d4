#include "base/uring.h"

#include <sys/syscall.h>
#include <unistd.h>

namespace haven {

Result<std::unique_ptr<Uring>> Uring::create(unsigned entries) {
  auto uring = std::make_unique<Uring>(Key());
  // Newest mode first; a kernel that does not know a flag refuses with EINVAL.
  const unsigned modes[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                            IORING_SETUP_COOP_TASKRUN, 0};
  int err = -EINVAL;
  for (unsigned mode : modes) {
    err = io_uring_queue_init(entries, &uring->m_ring, mode | IORING_SETUP_R_DISABLED);
    if (err != -EINVAL) break;
  }
  if (err < 0)
    return std::unexpected(
        Error::from_errno(fmt::format("io_uring_queue_init({})", entries), -err));
  uring->m_initialized = true;
  return uring;
}

Result<void> Uring::enable() {
  // liburing 2.3 (Debian 12) has no wrapper for this registration.
  if (::syscall(__NR_io_uring_register, m_ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
      0)
    return errno_error("io_uring enable rings");
  return {};
}

Uring::~Uring() {
  if (m_initialized) io_uring_queue_exit(&m_ring);
}

}  // namespace haven
