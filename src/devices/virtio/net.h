#pragma once

// virtio-net (virtio 1.2, 5.1) on a TAP device: one receive and one transmit queue. Frames
// carry the 12-byte virtio-net header both ways, which the TAP understands (IFF_VNET_HDR), so
// checksum and segmentation offloads pass through: the guest may send unchecksummed 64 KiB
// TSO frames and receive them from the host when it negotiated the matching features
// (TUNSETOFFLOAD mirrors them). Frames move by readv/writev straight between the TAP and guest
// buffers.

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "base/unique_fd.h"
#include "devices/virtio/device.h"
#include "devices/virtio/session.h"

namespace haven::devices::virtio {

struct NetOptions {
  std::string tap;  // created if it does not exist (needs CAP_NET_ADMIN)
  std::array<uint8_t, 6> mac{};
};

class Net final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint64_t kHeaderSize = 12;  // struct virtio_net_hdr_v1
  // The largest frame a TAP hands over: a 64 KiB segmentation-offload packet, its Ethernet
  // and VLAN headers.
  static constexpr uint64_t kMaxFrame = 65535 + 14 + 4;

  static constexpr uint64_t kFeatureCsum = 1ull << 0;
  static constexpr uint64_t kFeatureGuestCsum = 1ull << 1;
  static constexpr uint64_t kFeatureMac = 1ull << 5;
  static constexpr uint64_t kFeatureGuestTso4 = 1ull << 7;
  static constexpr uint64_t kFeatureGuestTso6 = 1ull << 8;
  static constexpr uint64_t kFeatureGuestEcn = 1ull << 9;
  static constexpr uint64_t kFeatureHostTso4 = 1ull << 11;
  static constexpr uint64_t kFeatureHostTso6 = 1ull << 12;
  static constexpr uint64_t kFeatureHostEcn = 1ull << 13;
  static constexpr uint64_t kFeatureStatus = 1ull << 16;

  static Result<std::unique_ptr<Net>> open(const NetOptions& options);
  // The TUN_F_* offloads the TAP may use toward a guest that negotiated `features`.
  static unsigned tap_offloads(uint64_t features);
  ~Net() override;

  std::string_view name() const override { return "virtio-net"; }
  DeviceType type() const override { return DeviceType::net; }
  uint32_t pci_class() const override { return 0x020000; }  // Ethernet controller
  uint64_t features() const override;
  std::vector<uint16_t> queue_sizes() const override { return {kQueueSize, kQueueSize}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  Result<void> activate(Activation activation) override;
  void reset() override;
  // rx_bytes, rx_frames, tx_bytes, tx_frames, tx_dropped, rx_dropped (bytes with the
  // virtio-net header).
  DeviceState counters() const override;
  void pause() override { m_session.pause(); }
  Result<void> resume() override;
  std::vector<std::optional<QueuePosition>> queue_positions() const override {
    return m_session.positions();
  }

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  Net(Key, UniqueFd tap, const NetOptions& options);

 private:
  static constexpr uint16_t kRx = 0;
  static constexpr uint16_t kTx = 1;

  void receive();   // TAP → guest
  void transmit();  // guest → TAP
  void rx_kicked();
  void watch_tap(bool watch);

  UniqueFd m_tap;
  NetOptions m_options;
  std::array<uint8_t, 12> m_config{};

  bool m_tap_watched = false;
  std::atomic<uint64_t> m_dropped_tx{0}, m_dropped_rx{0};
  // Worker thread only: where a frame for a receive buffer smaller than the largest frame is
  // read first.
  std::vector<uint8_t> m_bounce;
  std::atomic<uint64_t> m_rx_bytes{0}, m_rx_frames{0}, m_tx_bytes{0}, m_tx_frames{0};
  Session m_session;
};

}  // namespace haven::devices::virtio
