#include "devices/virtio/net.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "base/log.h"
#include "base/sys.h"
#include "devices/virtio/buffers.h"

namespace haven::devices::virtio {
namespace {

constexpr uint16_t kLinkUp = 1;
constexpr uint64_t kNumBuffersOffset = 10;  // in the header: how many chains a frame used

Result<UniqueFd> open_tap(const std::string& name) {
  auto fd = TRY(sys::open("/dev/net/tun", O_RDWR | O_NONBLOCK));
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &request) != 0)
    return errno_error(
        "TUNSETIFF {} (creating a TAP needs CAP_NET_ADMIN; an existing one must "
        "belong to this user)",
        name);
  int header_size = static_cast<int>(Net::kHeaderSize);
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header_size) != 0)
    return errno_error("TUNSETVNETHDRSZ {}", name);
  return fd;
}

}  // namespace

unsigned Net::tap_offloads(uint64_t features) {
  // What the TAP may hand us is what the guest said it can take: checksum offload first, and
  // segmentation (with ECN) only on top of it, as the TAP requires.
  unsigned offload = 0;
  if (features & kFeatureGuestCsum) {
    offload |= TUN_F_CSUM;
    if (features & kFeatureGuestTso4) offload |= TUN_F_TSO4;
    if (features & kFeatureGuestTso6) offload |= TUN_F_TSO6;
    if ((offload & (TUN_F_TSO4 | TUN_F_TSO6)) && (features & kFeatureGuestEcn))
      offload |= TUN_F_TSO_ECN;
  }
  return offload;
}

Result<std::unique_ptr<Net>> Net::open(const NetOptions& options) {
  auto tap = TRY(open_tap(options.tap));
  return std::make_unique<Net>(Key(), std::move(tap), options);
}

Net::Net(Key, UniqueFd tap, const NetOptions& options) : m_tap(std::move(tap)), m_options(options) {
  std::memcpy(m_config.data(), m_options.mac.data(), 6);
  std::memcpy(m_config.data() + 6, &kLinkUp, 2);  // status
  uint16_t pairs = 1;
  std::memcpy(m_config.data() + 8, &pairs, 2);  // max_virtqueue_pairs
}

Net::~Net() {
  reset();
}

uint64_t Net::features() const {
  return kFeatureCsum | kFeatureGuestCsum | kFeatureMac | kFeatureGuestTso4 | kFeatureGuestTso6 |
         kFeatureGuestEcn | kFeatureHostTso4 | kFeatureHostTso6 | kFeatureHostEcn | kFeatureStatus;
}

void Net::read_config(uint64_t offset, std::span<uint8_t> data) {
  read_config_bytes(m_config, offset, data);
}

Result<void> Net::activate(Activation activation) {
  m_session.begin(std::move(activation));
  unsigned offload = tap_offloads(m_session.features());
  if (::ioctl(m_tap.get(), TUNSETOFFLOAD, offload) != 0)
    return errno_error("TUNSETOFFLOAD {:#x} on {}", offload, m_options.tap);
  return resume();
}

Result<void> Net::resume() {
  if (!m_session.has_queue(kRx) || !m_session.has_queue(kTx)) return {};
  m_tap_watched = false;
  TRY(m_session.serve("virtio-net", {{m_session.notify_fd(kRx), [this] { rx_kicked(); }, true},
                                     {m_session.notify_fd(kTx), [this] { transmit(); }, true}}));
  // The TAP is watched from the worker thread, which owns the loop from now on: a first
  // receive-queue kick starts it there.
  ::eventfd_write(m_session.notify_fd(kRx), 1);
  return {};
}

void Net::reset() {
  m_session.stop();
  m_tap_watched = false;
  if (uint64_t dropped = m_dropped_tx.load())
    log::debug("{}: {} frames dropped on transmit", m_options.tap, dropped);
}

DeviceState Net::counters() const {
  return {{"rx_bytes", m_rx_bytes.load(std::memory_order_relaxed)},
          {"rx_frames", m_rx_frames.load(std::memory_order_relaxed)},
          {"tx_bytes", m_tx_bytes.load(std::memory_order_relaxed)},
          {"tx_frames", m_tx_frames.load(std::memory_order_relaxed)},
          {"tx_dropped", m_dropped_tx.load(std::memory_order_relaxed)},
          {"rx_dropped", m_dropped_rx.load(std::memory_order_relaxed)}};
}

void Net::watch_tap(bool watch) {
  if (watch == m_tap_watched) return;
  if (watch) {
    if (auto added = m_session.worker().loop().add(m_tap.get(), [this] { receive(); }); !added)
      return m_session.fail(added.error());
  } else {
    m_session.worker().loop().remove(m_tap.get());
  }
  m_tap_watched = watch;
}

void Net::rx_kicked() {
  if (m_session.broken()) return;
  // New receive buffers: frames waiting in the TAP can come in.
  watch_tap(true);
  receive();
}

void Net::receive() {
  if (m_session.broken()) return;
  Virtqueue& queue = m_session.queue(kRx);
  const memory::GuestMemory& memory = m_session.memory();
  // Frames dropped in this call: a stream of oversized frames must not keep the worker here
  // (the TAP stays readable, so the loop comes back after the transmit queue had its turn).
  unsigned dropped = 0;
  while (dropped < 64) {
    auto chain = queue.pop();
    if (!chain) return m_session.fail(chain.error());
    if (!*chain) {
      // No buffers: stop watching until the driver adds some (it kicks the receive queue).
      watch_tap(false);
      break;
    }
    if ((*chain)->writable_bytes() < kHeaderSize)
      return m_session.fail(Error::from_message("receive buffer smaller than the header"));
    ChainWriter frame(memory, **chain);
    ssize_t got = 0;
    if ((*chain)->writable_bytes() >= kHeaderSize + kMaxFrame) {
      // Room for any frame: straight from the TAP into the guest's buffers.
      auto iovecs = frame.take_iovecs(frame.remaining());
      if (!iovecs) return m_session.fail(iovecs.error());
      got = ::readv(m_tap.get(), iovecs->data(), static_cast<int>(iovecs->size()));
    } else {
      // Buffers smaller than the largest frame (the spec's SHOULD asks for more): the TAP
      // would cut a longer frame short without a word, so it is read here first, and one that
      // does not fit is dropped and counted, as a NIC drops what overflows its buffer.
      m_bounce.resize(kHeaderSize + kMaxFrame);
      got = ::read(m_tap.get(), m_bounce.data(), m_bounce.size());
      if (got > 0 && static_cast<uint64_t>(got) > (*chain)->writable_bytes()) {
        queue.undo_pop(std::move(**chain));
        m_dropped_rx.fetch_add(1, std::memory_order_relaxed);
        ++dropped;
        continue;
      }
      if (got > 0) {
        if (auto copied = frame.write(std::span(m_bounce).first(static_cast<size_t>(got))); !copied)
          return m_session.fail(copied.error());
      }
    }
    if (got < 0) {
      queue.undo_pop(std::move(**chain));
      if (errno != EAGAIN && errno != EINTR)
        log::warn("{}: read: {}", m_options.tap, std::strerror(errno));
      break;
    }
    // Without mergeable buffers every frame fits one chain.
    ChainWriter count(memory, **chain, kNumBuffersOffset);
    if (auto set = count.write_object<uint16_t>(1); !set) return m_session.fail(set.error());
    m_rx_bytes.fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
    m_rx_frames.fetch_add(1, std::memory_order_relaxed);
    if (auto pushed = queue.push_used(std::move(**chain), static_cast<uint32_t>(got)); !pushed)
      return m_session.fail(pushed.error());
  }
  m_session.notify(kRx);
}

void Net::transmit() {
  if (m_session.broken()) return;
  Virtqueue& queue = m_session.queue(kTx);
  const memory::GuestMemory& memory = m_session.memory();
  while (true) {
    auto chain = queue.pop();
    if (!chain) return m_session.fail(chain.error());
    if (!*chain) break;
    ChainReader frame(memory, **chain);
    uint64_t length = frame.remaining();
    auto iovecs = frame.take_iovecs(length);
    if (!iovecs) return m_session.fail(iovecs.error());
    if (length < kHeaderSize ||
        ::writev(m_tap.get(), iovecs->data(), static_cast<int>(iovecs->size())) < 0) {
      ++m_dropped_tx;  // a full TAP queue or a malformed frame: dropped, as a NIC would
    } else {
      m_tx_bytes.fetch_add(length, std::memory_order_relaxed);
      m_tx_frames.fetch_add(1, std::memory_order_relaxed);
    }
    if (auto pushed = queue.push_used(std::move(**chain), 0); !pushed)
      return m_session.fail(pushed.error());
  }
  m_session.notify(kTx);
}

}  // namespace haven::devices::virtio
