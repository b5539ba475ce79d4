#include "devices/virtio/console.h"

#include <sys/eventfd.h>

#include <algorithm>
#include <vector>

#include "base/sys.h"
#include "devices/virtio/buffers.h"

namespace haven::devices::virtio {

Result<std::unique_ptr<Console>> Console::create(Output output) {
  auto ready = TRY(sys::eventfd(0, EFD_NONBLOCK));
  return std::make_unique<Console>(Key(), std::move(output), std::move(ready));
}

Console::Console(Key, Output output, UniqueFd input_ready)
    : m_output(std::move(output)), m_input_ready(std::move(input_ready)) {}

Console::~Console() {
  reset();
}

void Console::read_config(uint64_t offset, std::span<uint8_t> data) {
  // cols, rows (unused without VIRTIO_CONSOLE_F_SIZE), max_nr_ports = 1, emerg_wr.
  static constexpr uint8_t kConfig[12] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  read_config_bytes(kConfig, offset, data);
}

Result<void> Console::activate(Activation activation) {
  m_session.begin(std::move(activation));
  return resume();
}

Result<void> Console::resume() {
  if (!m_session.has_queue(kRx) || !m_session.has_queue(kTx)) return {};
  return m_session.serve("virtio-console",
                         {{m_session.notify_fd(kRx), [this] { receive(); }, true},
                          {m_session.notify_fd(kTx), [this] { transmit(); }, true},
                          {m_input_ready.get(), [this] { receive(); }, true}});
}

void Console::reset() {
  m_session.stop();
}

size_t Console::enqueue_input(std::span<const uint8_t> bytes) {
  size_t accepted;
  {
    MutexLock lock(m_input_mutex);
    accepted = std::min(bytes.size(), kMaxPendingInput - m_input.size());
    m_input.insert(m_input.end(), bytes.begin(), bytes.begin() + static_cast<long>(accepted));
  }
  ::eventfd_write(m_input_ready.get(), 1);
  return accepted;
}

void Console::receive() {
  if (m_session.broken()) return;
  Virtqueue& queue = m_session.queue(kRx);
  std::vector<uint8_t> chunk;
  while (true) {
    {
      MutexLock lock(m_input_mutex);
      if (m_input.empty()) break;
    }
    auto chain = queue.pop();
    if (!chain) return m_session.fail(chain.error());
    if (!*chain) break;  // the driver kicks when it posts buffers
    {
      MutexLock lock(m_input_mutex);
      size_t take = std::min<uint64_t>(m_input.size(), (*chain)->writable_bytes());
      chunk.assign(m_input.begin(), m_input.begin() + static_cast<long>(take));
      m_input.erase(m_input.begin(), m_input.begin() + static_cast<long>(take));
    }
    ChainWriter writer(m_session.memory(), **chain);
    if (auto copied = writer.write(chunk); !copied) return m_session.fail(copied.error());
    auto written = static_cast<uint32_t>(writer.offset());
    if (auto pushed = queue.push_used(std::move(**chain), written); !pushed)
      return m_session.fail(pushed.error());
  }
  m_session.notify(kRx);
}

void Console::transmit() {
  if (m_session.broken()) return;
  Virtqueue& queue = m_session.queue(kTx);
  std::vector<uint8_t> bytes;
  while (true) {
    auto chain = queue.pop();
    if (!chain) return m_session.fail(chain.error());
    if (!*chain) break;
    ChainReader reader(m_session.memory(), **chain);
    bytes.resize(std::min<uint64_t>(reader.remaining(), 1 << 20));
    if (auto copied = reader.read(bytes); !copied) return m_session.fail(copied.error());
    m_output(bytes);
    if (auto pushed = queue.push_used(std::move(**chain), 0); !pushed)
      return m_session.fail(pushed.error());
  }
  m_session.notify(kTx);
}

}  // namespace haven::devices::virtio
