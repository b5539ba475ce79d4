#include "devices/virtio/rng.h"

#include <sys/random.h>

#include <algorithm>
#include <vector>

#include "devices/virtio/buffers.h"

namespace haven::devices::virtio {

Result<void> Rng::activate(Activation activation) {
  m_session.begin(std::move(activation));
  return resume();
}

Result<void> Rng::resume() {
  if (!m_session.has_queue(0)) return {};  // the driver left the queue off: nothing to serve
  return m_session.serve("virtio-rng", {{m_session.notify_fd(0), [this] { serve(); }, true}});
}

void Rng::reset() {
  m_session.stop();
}

void Rng::serve() {
  if (m_session.broken()) return;
  Virtqueue& queue = m_session.queue(0);
  std::vector<uint8_t> random;
  while (true) {
    auto chain = queue.pop();
    if (!chain) return m_session.fail(chain.error());
    if (!*chain) break;
    ChainWriter writer(m_session.memory(), **chain);
    uint32_t length =
        static_cast<uint32_t>(std::min<uint64_t>(writer.remaining(), kMaxRequestBytes));
    random.resize(length);
    size_t filled = 0;
    while (filled < length) {
      ssize_t got = ::getrandom(random.data() + filled, length - filled, 0);
      if (got <= 0) break;  // EINTR: hand out what we have
      filled += static_cast<size_t>(got);
    }
    if (auto copied = writer.write(std::span(random.data(), filled)); !copied)
      return m_session.fail(copied.error());
    auto written = static_cast<uint32_t>(writer.offset());
    if (auto pushed = queue.push_used(std::move(**chain), written); !pushed)
      return m_session.fail(pushed.error());
  }
  m_session.notify(0);
}

}  // namespace haven::devices::virtio
