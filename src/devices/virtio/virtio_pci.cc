#include "devices/virtio/virtio_pci.h"

#include <sys/eventfd.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "base/sys.h"

namespace haven::devices::virtio {
namespace {

constexpr uint16_t kVendor = 0x1af4;
constexpr uint16_t kModernDeviceBase = 0x1040;
constexpr uint16_t kSubsystem = 0x1100;

// Vendor capability configuration types (virtio 1.2, 4.1.4).
constexpr uint8_t kCapCommon = 1;
constexpr uint8_t kCapNotify = 2;
constexpr uint8_t kCapIsr = 3;
constexpr uint8_t kCapDevice = 4;

constexpr uint8_t kIsrQueue = 1;
constexpr uint8_t kIsrConfig = 2;

// Common configuration registers.
constexpr uint64_t kDeviceFeatureSelect = 0x00;
constexpr uint64_t kDeviceFeature = 0x04;
constexpr uint64_t kDriverFeatureSelect = 0x08;
constexpr uint64_t kDriverFeature = 0x0c;
constexpr uint64_t kMsixConfig = 0x10;
constexpr uint64_t kNumQueues = 0x12;
constexpr uint64_t kDeviceStatus = 0x14;
constexpr uint64_t kConfigGeneration = 0x15;
constexpr uint64_t kQueueSelect = 0x16;
constexpr uint64_t kQueueSize = 0x18;
constexpr uint64_t kQueueMsixVector = 0x1a;
constexpr uint64_t kQueueEnable = 0x1c;
constexpr uint64_t kQueueNotifyOff = 0x1e;
constexpr uint64_t kQueueDesc = 0x20;
constexpr uint64_t kQueueDriver = 0x28;
constexpr uint64_t kQueueDevice = 0x30;

// The register each byte of the common configuration belongs to: its offset and width.
struct Field {
  uint64_t offset;
  uint64_t size;
};
constexpr Field kFields[] = {
    {kDeviceFeatureSelect, 4}, {kDeviceFeature, 4},    {kDriverFeatureSelect, 4},
    {kDriverFeature, 4},       {kMsixConfig, 2},       {kNumQueues, 2},
    {kDeviceStatus, 1},        {kConfigGeneration, 1}, {kQueueSelect, 2},
    {kQueueSize, 2},           {kQueueMsixVector, 2},  {kQueueEnable, 2},
    {kQueueNotifyOff, 2},      {kQueueDesc, 4},        {kQueueDesc + 4, 4},
    {kQueueDriver, 4},         {kQueueDriver + 4, 4},  {kQueueDevice, 4},
    {kQueueDevice + 4, 4},
};

template <class T>
void put(std::array<uint8_t, VirtioPci::kCommonSize>& registers, uint64_t offset, T value) {
  std::memcpy(registers.data() + offset, &value, sizeof(T));
}

template <class T>
T get(const std::array<uint8_t, VirtioPci::kCommonSize>& registers, uint64_t offset) {
  T value;
  std::memcpy(&value, registers.data() + offset, sizeof(T));
  return value;
}

// Replaces the 32-bit half of `value` that a write to `offset` (the low or high dword of a
// 64-bit register at `base`) covers.
uint64_t set_half(uint64_t value, uint64_t base, uint64_t offset, uint32_t half) {
  if (offset == base) return (value & ~uint64_t{0xffffffff}) | half;
  return (value & 0xffffffff) | uint64_t{half} << 32;
}

}  // namespace

Result<std::shared_ptr<VirtioPci>> VirtioPci::create(std::unique_ptr<VirtioDevice> device,
                                                     const memory::GuestMemory& memory,
                                                     pci::PciPlatform& platform, uint32_t slot) {
  auto queue_count = static_cast<uint16_t>(device->queue_sizes().size());
  auto vectors = TRY(with_context(platform.allocate_msi(static_cast<uint16_t>(queue_count + 1)),
                                  "{} MSI-X vectors", device->name()));
  auto pci = std::make_shared<VirtioPci>(Key(), std::move(device), memory, platform, slot,
                                         std::move(vectors));
  for (UniqueFd& notify : pci->m_notify)
    notify = TRY(with_context(sys::eventfd(0, EFD_NONBLOCK), "{}", pci->name()));
  return pci;
}

VirtioPci::VirtioPci(Key, std::unique_ptr<VirtioDevice> device, const memory::GuestMemory& memory,
                     pci::PciPlatform& platform, uint32_t slot,
                     std::unique_ptr<pci::MsiVectors> vectors)
    : PciDevice({.vendor = kVendor,
                 .device = static_cast<uint16_t>(kModernDeviceBase +
                                                 static_cast<uint16_t>(device->type())),
                 .revision = 1,
                 .class_code = device->pci_class(),
                 .subsystem_vendor = kVendor,
                 .subsystem = kSubsystem}),
      m_device(std::move(device)),
      m_memory(memory),
      m_platform(platform),
      m_slot(slot),
      m_msix(static_cast<uint16_t>(m_device->queue_sizes().size() + 1), std::move(vectors)),
      m_notify(m_device->queue_sizes().size()),
      m_queue_vectors(m_device->queue_sizes().size()) {
  m_offered =
      m_device->features() | kFeatureVersion1 | kFeatureIndirectDescriptors | kFeatureEventIndex;
  for (uint16_t max : m_device->queue_sizes()) {
    Queue queue;
    queue.max_size = max;
    queue.size = max;
    m_queues.push_back(std::move(queue));
  }
  for (auto& vector : m_queue_vectors) vector.store(kNoVector);
  m_doorbells.assign(m_queues.size(), 0);
  add_memory_bar64(0, kBarSize);
  set_interrupt_pin(1);  // INTA#
  add_capabilities();
}

VirtioPci::~VirtioPci() {
  MutexLock lock(m_mutex);
  m_device->reset();
  unregister_doorbells();
}

void VirtioPci::add_capabilities() {
  auto vendor_cap = [this](uint8_t type, uint64_t offset, uint64_t length, uint8_t cap_length) {
    uint8_t at = add_capability(pci::kCapabilityVendor, cap_length);
    config().set_u8(static_cast<uint8_t>(at + 2), cap_length);
    config().set_u8(static_cast<uint8_t>(at + 3), type);
    config().set_u8(static_cast<uint8_t>(at + 4), 0);  // BAR 0
    config().set_u32(static_cast<uint8_t>(at + 8), static_cast<uint32_t>(offset));
    config().set_u32(static_cast<uint8_t>(at + 12), static_cast<uint32_t>(length));
    return at;
  };
  vendor_cap(kCapCommon, kCommonOffset, kCommonSize, 16);
  uint8_t notify = vendor_cap(kCapNotify, kNotifyOffset,
                              std::max<uint64_t>(4, kNotifyMultiplier * m_notify.size()), 20);
  config().set_u32(static_cast<uint8_t>(notify + 16), kNotifyMultiplier);
  vendor_cap(kCapIsr, kIsrOffset, 4, 16);
  vendor_cap(kCapDevice, kDeviceConfigOffset, kDeviceConfigSize, 16);
  uint8_t msix = add_capability(pci::kCapabilityMsix, pci::Msix::kCapabilityLength);
  m_msix.install(config(), msix, 0, kMsixTableOffset, kMsixPbaOffset);
}

uint8_t VirtioPci::status() const {
  MutexLock lock(m_mutex);
  return m_broken ? m_status | kStatusNeedsReset : m_status;
}

void VirtioPci::config_written(uint32_t offset, uint32_t length) {
  (void)offset;
  (void)length;
  m_msix.control_written(config());
}

void VirtioPci::bars_changed() {
  MutexLock lock(m_mutex);
  if (!m_active) return;
  unregister_doorbells();
  register_doorbells();
}

void VirtioPci::bar_read(int bar, uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (bar != 0) return;
  if (offset >= kCommonOffset && offset < kCommonOffset + kCommonSize) {
    read_common(offset - kCommonOffset, data);
  } else if (offset == kIsrOffset) {
    MutexLock lock(m_intx_mutex);
    data[0] = m_isr.exchange(0);
    m_platform.set_intx(m_slot, false);
  } else if (offset >= kDeviceConfigOffset && offset < kDeviceConfigOffset + kDeviceConfigSize) {
    m_device->read_config(offset - kDeviceConfigOffset, data);
  } else if (offset >= kMsixTableOffset && offset < kMsixTableOffset + m_msix.table_size()) {
    m_msix.table_read(offset - kMsixTableOffset, data);
  } else if (offset >= kMsixPbaOffset && offset < kMsixPbaOffset + m_msix.pba_size()) {
    m_msix.pba_read(offset - kMsixPbaOffset, data);
  }
}

void VirtioPci::bar_write(int bar, uint64_t offset, std::span<const uint8_t> data) {
  if (bar != 0) return;
  if (offset >= kCommonOffset && offset < kCommonOffset + kCommonSize) {
    write_common(offset - kCommonOffset, data);
  } else if (offset >= kDeviceConfigOffset && offset < kDeviceConfigOffset + kDeviceConfigSize) {
    m_device->write_config(offset - kDeviceConfigOffset, data);
  } else if (offset >= kNotifyOffset &&
             offset < kNotifyOffset + kNotifyMultiplier * m_notify.size()) {
    // Reached only when no doorbell is registered for the queue (or KVM lacks ioeventfd).
    uint64_t index = (offset - kNotifyOffset) / kNotifyMultiplier;
    ::eventfd_write(m_notify[index].get(), 1);
  } else if (offset >= kMsixTableOffset && offset < kMsixTableOffset + m_msix.table_size()) {
    m_msix.table_write(offset - kMsixTableOffset, data);
  }
}

std::array<uint8_t, VirtioPci::kCommonSize> VirtioPci::common_registers() const {
  std::array<uint8_t, kCommonSize> registers{};
  put<uint32_t>(registers, kDeviceFeatureSelect, m_device_feature_select);
  uint32_t offered = m_device_feature_select == 0   ? static_cast<uint32_t>(m_offered)
                     : m_device_feature_select == 1 ? static_cast<uint32_t>(m_offered >> 32)
                                                    : 0;
  put<uint32_t>(registers, kDeviceFeature, offered);
  put<uint32_t>(registers, kDriverFeatureSelect, m_driver_feature_select);
  uint32_t driver = m_driver_feature_select == 0   ? static_cast<uint32_t>(m_driver_features)
                    : m_driver_feature_select == 1 ? static_cast<uint32_t>(m_driver_features >> 32)
                                                   : 0;
  put<uint32_t>(registers, kDriverFeature, driver);
  put<uint16_t>(registers, kMsixConfig, m_config_vector.load());
  put<uint16_t>(registers, kNumQueues, static_cast<uint16_t>(m_queues.size()));
  put<uint8_t>(registers, kDeviceStatus, m_broken ? m_status | kStatusNeedsReset : m_status);
  put<uint8_t>(registers, kConfigGeneration, m_config_generation.load());
  put<uint16_t>(registers, kQueueSelect, m_queue_select);
  if (m_queue_select < m_queues.size()) {
    const Queue& queue = m_queues[m_queue_select];
    put<uint16_t>(registers, kQueueSize, queue.size);
    put<uint16_t>(registers, kQueueMsixVector, m_queue_vectors[m_queue_select].load());
    put<uint16_t>(registers, kQueueEnable, queue.enabled ? 1 : 0);
    put<uint16_t>(registers, kQueueNotifyOff, m_queue_select);
    put<uint64_t>(registers, kQueueDesc, queue.descriptors);
    put<uint64_t>(registers, kQueueDriver, queue.driver_ring);
    put<uint64_t>(registers, kQueueDevice, queue.device_ring);
  }
  return registers;
}

void VirtioPci::read_common(uint64_t offset, std::span<uint8_t> data) {
  MutexLock lock(m_mutex);
  auto registers = common_registers();
  for (size_t i = 0; i < data.size() && offset + i < kCommonSize; ++i)
    data[i] = registers[offset + i];
}

void VirtioPci::write_common(uint64_t offset, std::span<const uint8_t> data) {
  MutexLock lock(m_mutex);
  auto registers = common_registers();
  for (size_t i = 0; i < data.size() && offset + i < kCommonSize; ++i)
    registers[offset + i] = data[i];
  uint64_t end = offset + data.size();
  for (const Field& field : kFields)
    if (field.offset < end && offset < field.offset + field.size)
      apply_common(field.offset, registers);
}

void VirtioPci::apply_common(uint64_t field, const std::array<uint8_t, kCommonSize>& registers) {
  // Queue registers only change before DRIVER_OK (virtio 1.2, 4.1.4.3.2).
  bool queue_writable = !(m_status & kStatusDriverOk) && m_queue_select < m_queues.size();
  Queue* queue = queue_writable ? &m_queues[m_queue_select] : nullptr;
  switch (field) {
    case kDeviceFeatureSelect:
      m_device_feature_select = get<uint32_t>(registers, field);
      break;
    case kDriverFeatureSelect:
      m_driver_feature_select = get<uint32_t>(registers, field);
      break;
    case kDriverFeature:
      if (m_status & kStatusFeaturesOk) break;
      if (m_driver_feature_select < 2)
        m_driver_features =
            set_half(m_driver_features, kDriverFeature,
                     m_driver_feature_select == 0 ? kDriverFeature : kDriverFeature + 4,
                     get<uint32_t>(registers, field));
      break;
    case kMsixConfig: {
      uint16_t vector = get<uint16_t>(registers, field);
      m_config_vector = vector < m_msix.vector_count() ? vector : kNoVector;
      break;
    }
    case kDeviceStatus:
      set_status(get<uint8_t>(registers, field));
      break;
    case kQueueSelect:
      m_queue_select = get<uint16_t>(registers, field);
      break;
    case kQueueSize:
      if (queue) queue->size = get<uint16_t>(registers, field);
      break;
    case kQueueMsixVector:
      if (m_queue_select < m_queues.size()) {
        uint16_t vector = get<uint16_t>(registers, field);
        m_queue_vectors[m_queue_select] = vector < m_msix.vector_count() ? vector : kNoVector;
      }
      break;
    case kQueueEnable:
      if (queue && get<uint16_t>(registers, field) == 1) queue->enabled = true;
      break;
    case kQueueDesc:
    case kQueueDesc + 4:
      if (queue)
        queue->descriptors =
            set_half(queue->descriptors, kQueueDesc, field, get<uint32_t>(registers, field));
      break;
    case kQueueDriver:
    case kQueueDriver + 4:
      if (queue)
        queue->driver_ring =
            set_half(queue->driver_ring, kQueueDriver, field, get<uint32_t>(registers, field));
      break;
    case kQueueDevice:
    case kQueueDevice + 4:
      if (queue)
        queue->device_ring =
            set_half(queue->device_ring, kQueueDevice, field, get<uint32_t>(registers, field));
      break;
    default:
      break;  // read-only
  }
}

void VirtioPci::set_status(uint8_t status) {
  if (status == 0) {
    reset();
    return;
  }
  uint8_t added = status & ~m_status;
  if (added & kStatusFeaturesOk) {
    uint64_t unoffered = m_driver_features & ~m_offered;
    if (unoffered || !(m_driver_features & kFeatureVersion1)) {
      log::warn("{}: driver accepted features {:#x} (offered {:#x}); refusing FEATURES_OK", name(),
                m_driver_features, m_offered);
      status &= ~kStatusFeaturesOk;
    }
  }
  m_status = status;
  if ((added & kStatusDriverOk) && (status & kStatusFeaturesOk) && !m_active) activate();
}

void VirtioPci::activate(std::span<const std::optional<QueuePosition>> positions) {
  Activation activation;
  activation.memory = &m_memory;
  activation.features = m_driver_features;
  activation.interrupts = this;
  activation.fail = [this](const std::string& why) { fail(why); };
  bool indirect = m_driver_features & kFeatureIndirectDescriptors;
  bool event_index = m_driver_features & kFeatureEventIndex;
  for (size_t i = 0; i < m_queues.size(); ++i) {
    const Queue& queue = m_queues[i];
    activation.notify_fds.push_back(m_notify[i].get());
    if (!queue.enabled) {
      activation.queues.emplace_back();
      continue;
    }
    if (queue.size > queue.max_size) {
      fail(fmt::format("queue {}: size {} is above the maximum {}", i, queue.size, queue.max_size));
      return;
    }
    auto created = Virtqueue::create(
        m_memory,
        {queue.size, memory::GuestAddr(queue.descriptors), memory::GuestAddr(queue.driver_ring),
         memory::GuestAddr(queue.device_ring)},
        indirect, event_index);
    if (!created) {
      fail(fmt::format("queue {}: {}", i, created.error().message()));
      return;
    }
    if (i < positions.size() && positions[i]) created->set_position(*positions[i]);
    activation.queues.emplace_back(std::move(*created));
  }
  if (auto result = m_device->activate(std::move(activation)); !result) {
    fail(result.error().message());
    return;
  }
  m_active = true;
  register_doorbells();
}

void VirtioPci::reset() {
  m_device->reset();
  unregister_doorbells();
  m_active = false;
  m_broken = false;
  m_status = 0;
  m_device_feature_select = 0;
  m_driver_feature_select = 0;
  m_driver_features = 0;
  m_queue_select = 0;
  m_config_vector = kNoVector;
  for (size_t i = 0; i < m_queues.size(); ++i) {
    Queue& queue = m_queues[i];
    queue.size = queue.max_size;
    queue.enabled = false;
    queue.descriptors = queue.driver_ring = queue.device_ring = 0;
    m_queue_vectors[i] = kNoVector;
    eventfd_t ignored;
    ::eventfd_read(m_notify[i].get(), &ignored);
  }
  MutexLock lock(m_intx_mutex);
  m_isr = 0;
  m_platform.set_intx(m_slot, false);
}

void VirtioPci::fail(const std::string& why) {
  if (m_broken.exchange(true)) return;
  log::error("{} (PCI 00:{:02x}.0) stopped: {}; the guest driver must reset it", name(), m_slot,
             why);
  config_changed();
}

void VirtioPci::register_doorbells() {
  auto bar = bar_address(0);
  if (!bar) return;
  for (size_t i = 0; i < m_queues.size(); ++i) {
    uint64_t address = *bar + kNotifyOffset + kNotifyMultiplier * i;
    if (auto result = m_platform.add_doorbell(m_notify[i].get(), address, 2); !result) {
      log::warn("{} queue {}: {}; notifications will exit to Haven", name(), i,
                result.error().message());
      continue;
    }
    m_doorbells[i] = address;
  }
}

void VirtioPci::unregister_doorbells() {
  for (size_t i = 0; i < m_queues.size(); ++i) {
    if (!m_doorbells[i]) continue;
    m_platform.remove_doorbell(m_notify[i].get(), m_doorbells[i], 2);
    m_doorbells[i] = 0;
  }
}

void VirtioPci::queue(uint16_t index) {
  if (index >= m_queue_vectors.size()) return;
  uint16_t vector = m_queue_vectors[index].load();
  if (m_msix.enabled()) {
    if (vector != kNoVector) m_msix.signal(vector);
    return;
  }
  raise_intx(kIsrQueue);
}

void VirtioPci::config_changed() {
  ++m_config_generation;
  uint16_t vector = m_config_vector.load();
  if (m_msix.enabled()) {
    if (vector != kNoVector) m_msix.signal(vector);
    return;
  }
  raise_intx(kIsrConfig);
}

void VirtioPci::raise_intx(uint8_t isr_bit) {
  MutexLock lock(m_intx_mutex);
  m_isr |= isr_bit;
  if (!intx_disabled()) m_platform.set_intx(m_slot, true);
}

}  // namespace haven::devices::virtio
