#pragma once

// The device side of virtio (virtio 1.2, chapter 5) independent of the transport: what a
// device offers (type, features, queues, configuration space) and how it runs once the driver
// sets DRIVER_OK. The PCI transport (virtio_pci.h) owns negotiation, queue registers and
// interrupts, and hands the device ready virtqueues.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "devices/device_state.h"
#include "devices/virtio/virtqueue.h"
#include "memory/guest_memory.h"

namespace haven::devices::virtio {

inline constexpr uint64_t kFeatureIndirectDescriptors = 1ull << 28;
inline constexpr uint64_t kFeatureEventIndex = 1ull << 29;
inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;

enum class DeviceType : uint16_t { net = 1, block = 2, console = 3, rng = 4, scsi = 8 };

// What a running device raises toward the driver; safe from any thread.
class Interrupts {
 public:
  virtual ~Interrupts() = default;
  // The device put buffers in queue `index`'s used ring (and the driver wants to know).
  virtual void queue(uint16_t index) = 0;
  // The device configuration space changed.
  virtual void config_changed() = 0;
};

// Everything a device needs to serve its queues, valid until reset() returns.
struct Activation {
  const memory::GuestMemory* memory = nullptr;
  uint64_t features = 0;  // negotiated
  // Per queue index: the queue, or nullopt when the driver left it disabled.
  std::vector<std::optional<Virtqueue>> queues;
  // Per queue index: an eventfd that becomes readable when the driver notifies the queue.
  std::vector<int> notify_fds;
  Interrupts* interrupts = nullptr;
  // Marks the device broken (a hostile or corrupt ring): it stops serving, the driver sees
  // DEVICE_NEEDS_RESET, the VM keeps running.
  std::function<void(const std::string& why)> fail;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;
  virtual std::string_view name() const = 0;
  virtual DeviceType type() const = 0;
  virtual uint32_t pci_class() const = 0;
  // Device-specific feature bits offered; the transport adds the ring and version bits.
  virtual uint64_t features() const = 0;
  // The maximum size of each queue; the vector's length is the number of queues.
  virtual std::vector<uint16_t> queue_sizes() const = 0;
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) {
    (void)offset;
    (void)data;
  }
  virtual Result<void> activate(Activation activation) = 0;
  // Stops serving: when it returns, the device touches neither guest memory nor the queues.
  virtual void reset() = 0;

  // Snapshots, only between activate() and reset(). pause() stops serving once every request
  // the device took from a queue is finished and in the used ring, so the queues' positions
  // are all the state a snapshot needs; resume() serves again from where it stopped (also in
  // a new process, after activate() with queues set to the saved positions).
  virtual void pause() = 0;
  virtual Result<void> resume() = 0;
  // Per queue: its position, or nullopt when the driver left it off. While paused.
  virtual std::vector<std::optional<QueuePosition>> queue_positions() const = 0;

  // What the device has moved since it was made ({"read_bytes": ...}), for metrics; any
  // thread.
  virtual DeviceState counters() const { return DeviceState::object(); }
};

// Copies `size` bytes of a little-endian configuration structure starting at `offset`; bytes
// past its end read as zero.
void read_config_bytes(std::span<const uint8_t> config, uint64_t offset, std::span<uint8_t> data);

}  // namespace haven::devices::virtio
