#pragma once

// virtio-console (virtio 1.2, 5.3) with one port: a second console for the guest (/dev/hvc0)
// beside the 8250. What the guest writes goes to `output` (from the device's thread); host
// input is queued with enqueue_input() from any thread and handed to the guest as it posts
// receive buffers.

#include <deque>
#include <functional>
#include <memory>

#include "base/mutex.h"
#include "base/unique_fd.h"
#include "devices/virtio/device.h"
#include "devices/virtio/session.h"

namespace haven::devices::virtio {

class Console final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 64;
  static constexpr size_t kMaxPendingInput = 64 * 1024;
  using Output = std::function<void(std::span<const uint8_t>)>;

  static Result<std::unique_ptr<Console>> create(Output output);
  ~Console() override;

  std::string_view name() const override { return "virtio-console"; }
  DeviceType type() const override { return DeviceType::console; }
  uint32_t pci_class() const override { return 0x078000; }  // communication, other
  uint64_t features() const override { return 0; }
  std::vector<uint16_t> queue_sizes() const override { return {kQueueSize, kQueueSize}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  Result<void> activate(Activation activation) override;
  void reset() override;
  void pause() override { m_session.pause(); }
  Result<void> resume() override;
  std::vector<std::optional<QueuePosition>> queue_positions() const override {
    return m_session.positions();
  }

  // Bytes for the guest; returns how many were accepted (the rest would overflow the buffer).
  size_t enqueue_input(std::span<const uint8_t> bytes);

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  Console(Key, Output output, UniqueFd input_ready);

 private:
  static constexpr uint16_t kRx = 0;
  static constexpr uint16_t kTx = 1;

  void receive();
  void transmit();

  Output m_output;
  UniqueFd m_input_ready;  // eventfd: input waits
  Mutex m_input_mutex;
  std::deque<uint8_t> m_input HAVEN_GUARDED_BY(m_input_mutex);

  Session m_session;
};

}  // namespace haven::devices::virtio
