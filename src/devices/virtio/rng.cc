#include "devices/virtio/rng.h"

#include <sys/random.h>

#include <algorithm>
#include <vector>

#include "devices/virtio/buffers.h"

namespace haven::devices::virtio {

Result<void> Rng::activate(Activation activation) {
  m_active = std::move(activation);
  if (!m_active.queues[0]) return {};  // the driver left the queue off: nothing to serve
  m_worker =
      TRY(Worker::start("virtio-rng", {{m_active.notify_fds[0], [this] { serve(); }, true}}));
  return {};
}

void Rng::reset() {
  m_worker.reset();
  m_active = {};
}

void Rng::serve() {
  Virtqueue& queue = *m_active.queues[0];
  std::vector<uint8_t> random;
  auto failed = [this](const Error& error) {
    m_active.fail(error.message());
    m_worker->stop_soon();
  };
  while (true) {
    auto chain = queue.pop();
    if (!chain) return failed(chain.error());
    if (!*chain) break;
    uint32_t length =
        static_cast<uint32_t>(std::min<uint64_t>((*chain)->writable_bytes, kMaxRequestBytes));
    random.resize(length);
    size_t filled = 0;
    while (filled < length) {
      ssize_t got = ::getrandom(random.data() + filled, length - filled, 0);
      if (got <= 0) break;  // EINTR: hand out what we have
      filled += static_cast<size_t>(got);
    }
    if (auto copied = copy_to_buffers(*m_active.memory, (*chain)->writable, 0,
                                      std::span(random.data(), filled));
        !copied)
      return failed(copied.error());
    if (auto pushed = queue.push_used((*chain)->head, static_cast<uint32_t>(filled)); !pushed)
      return failed(pushed.error());
  }
  auto notify = queue.should_notify();
  if (!notify) return failed(notify.error());
  if (*notify) m_active.interrupts->queue(0);
}

}  // namespace haven::devices::virtio
