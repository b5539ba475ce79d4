#pragma once

// The virtio-pci transport, modern interface only (virtio 1.2, 4.1): a PCI function
// 1af4:(1040 + type) whose BAR 0 holds the common configuration, ISR, device configuration,
// notification area and the MSI-X table and PBA, each announced by a vendor capability.
// It negotiates features, records the queue registers, and on DRIVER_OK builds the virtqueues,
// registers one doorbell (ioeventfd) per queue and activates the device. Interrupts go out
// through MSI-X when the driver enabled it, else through INTx with the ISR register.
//
// Threading: register accesses come from vCPUs under this object's lock; the device's worker
// raises interrupts without that lock (vectors and ISR are atomics).

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/mutex.h"
#include "base/unique_fd.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_device.h"
#include "devices/pci/pci_platform.h"
#include "devices/virtio/device.h"

namespace haven::devices::virtio {

class VirtioPci final : public pci::PciDevice, private Interrupts {
 public:
  // BAR 0 layout.
  static constexpr uint64_t kBarSize = 0x8000;
  static constexpr uint64_t kCommonOffset = 0x0000;
  static constexpr uint64_t kCommonSize = 0x40;
  static constexpr uint64_t kIsrOffset = 0x1000;
  static constexpr uint64_t kDeviceConfigOffset = 0x2000;
  static constexpr uint64_t kDeviceConfigSize = 0x1000;
  static constexpr uint64_t kNotifyOffset = 0x3000;
  static constexpr uint32_t kNotifyMultiplier = 4;
  static constexpr uint64_t kMsixTableOffset = 0x4000;
  static constexpr uint64_t kMsixPbaOffset = 0x6000;
  static constexpr uint16_t kNoVector = 0xffff;

  // Device status bits (virtio 1.2, 2.1).
  static constexpr uint8_t kStatusAcknowledge = 1;
  static constexpr uint8_t kStatusDriver = 2;
  static constexpr uint8_t kStatusDriverOk = 4;
  static constexpr uint8_t kStatusFeaturesOk = 8;
  static constexpr uint8_t kStatusNeedsReset = 0x40;
  static constexpr uint8_t kStatusFailed = 0x80;

  static Result<std::shared_ptr<VirtioPci>> create(std::unique_ptr<VirtioDevice> device,
                                                   const memory::GuestMemory& memory,
                                                   pci::PciPlatform& platform, uint32_t slot);
  ~VirtioPci() override;

  std::string_view name() const override { return m_device->name(); }
  uint8_t status() const;
  uint32_t slot() const { return m_slot; }
  DeviceState counters() const { return m_device->counters(); }

  // Snapshots. pause() lets the device finish what it took from its queues and stop; resume()
  // serves again. save_state() (while paused) is the config space, MSI-X, the transport's
  // registers and each queue's position; restore_state() puts them into a freshly built
  // function of the same kind and restarts the device where it was.
  void pause();
  void resume();
  DeviceState save_state() override;
  Result<void> restore_state(const DeviceState& state) override;

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  // Only create() can make the key.
  VirtioPci(Key, std::unique_ptr<VirtioDevice> device, const memory::GuestMemory& memory,
            pci::PciPlatform& platform, uint32_t slot, std::unique_ptr<pci::MsiVectors> vectors);

 protected:
  void bar_read(int bar, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(int bar, uint64_t offset, std::span<const uint8_t> data) override;
  void config_written(uint32_t offset, uint32_t length) override;
  void bars_changed() override;

 private:
  struct Queue {
    uint16_t max_size = 0;
    uint16_t size = 0;
    bool enabled = false;
    uint64_t descriptors = 0;
    uint64_t driver_ring = 0;
    uint64_t device_ring = 0;
  };

  // Interrupts, for the device's worker.
  void queue(uint16_t index) override;
  void config_changed() override;
  void raise_intx(uint8_t isr_bit);

  void add_capabilities();
  void read_common(uint64_t offset, std::span<uint8_t> data) HAVEN_EXCLUDES(m_mutex);
  void write_common(uint64_t offset, std::span<const uint8_t> data) HAVEN_EXCLUDES(m_mutex);
  std::array<uint8_t, kCommonSize> common_registers() const HAVEN_REQUIRES(m_mutex);
  void apply_common(uint64_t field, const std::array<uint8_t, kCommonSize>& registers)
      HAVEN_REQUIRES(m_mutex);
  void set_status(uint8_t status) HAVEN_REQUIRES(m_mutex);
  // `positions` (restoring a snapshot): where each queue continues.
  void activate(std::span<const std::optional<QueuePosition>> positions = {})
      HAVEN_REQUIRES(m_mutex);
  void reset() HAVEN_REQUIRES(m_mutex);
  void fail(const std::string& why);  // any thread: touches only atomics
  void register_doorbells() HAVEN_REQUIRES(m_mutex);
  void unregister_doorbells() HAVEN_REQUIRES(m_mutex);

  std::unique_ptr<VirtioDevice> m_device;
  const memory::GuestMemory& m_memory;
  pci::PciPlatform& m_platform;
  uint32_t m_slot;
  pci::Msix m_msix;
  uint64_t m_offered = 0;
  // Per queue, the eventfd its doorbell signals: made with the device, never replaced, so
  // read without the mutex (the doorbell path and the worker's activation use it).
  std::vector<UniqueFd> m_notify;

  mutable Mutex m_mutex;
  uint32_t m_device_feature_select HAVEN_GUARDED_BY(m_mutex) = 0;
  uint32_t m_driver_feature_select HAVEN_GUARDED_BY(m_mutex) = 0;
  uint64_t m_driver_features HAVEN_GUARDED_BY(m_mutex) = 0;
  uint8_t m_status HAVEN_GUARDED_BY(m_mutex) = 0;
  uint16_t m_queue_select HAVEN_GUARDED_BY(m_mutex) = 0;
  std::vector<Queue> m_queues HAVEN_GUARDED_BY(m_mutex);
  bool m_active HAVEN_GUARDED_BY(m_mutex) = false;
  std::vector<uint64_t> m_doorbells
      HAVEN_GUARDED_BY(m_mutex);  // registered doorbell address per queue (0: none)

  // Read by the worker when it raises interrupts.
  std::atomic<uint16_t> m_config_vector{kNoVector};
  std::vector<std::atomic<uint16_t>> m_queue_vectors;
  Mutex m_intx_mutex;  // ISR bits and the INTx line change together
  std::atomic<uint8_t> m_isr{0};
  std::atomic<uint8_t> m_config_generation{0};
  std::atomic<bool> m_broken{false};
};

}  // namespace haven::devices::virtio
