#pragma once

// virtio-rng (virtio 1.2, 5.4): one request queue; every device-writable buffer the driver
// offers comes back filled from the host's getrandom(). The guest sees it as /dev/hwrng.

#include "devices/virtio/device.h"
#include "devices/virtio/session.h"

namespace haven::devices::virtio {

class Rng final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  // Largest amount handed out per request, so one request cannot stall the worker.
  static constexpr uint32_t kMaxRequestBytes = 64 * 1024;

  std::string_view name() const override { return "virtio-rng"; }
  DeviceType type() const override { return DeviceType::rng; }
  uint32_t pci_class() const override { return 0x00ff00; }  // unclassified, "other"
  uint64_t features() const override { return 0; }
  std::vector<uint16_t> queue_sizes() const override { return {kQueueSize}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override {
    read_config_bytes({}, offset, data);
  }
  Result<void> activate(Activation activation) override;
  void reset() override;
  void pause() override { m_session.pause(); }
  Result<void> resume() override;
  std::vector<std::optional<QueuePosition>> queue_positions() const override {
    return m_session.positions();
  }

 private:
  void serve();

  Session m_session;
};

}  // namespace haven::devices::virtio
