#include "devices/virtio/virtqueue.h"

#include <atomic>

namespace haven::devices::virtio {
namespace {

using memory::GuestAddr;

constexpr uint16_t kDescNext = 1;
constexpr uint16_t kDescWrite = 2;
constexpr uint16_t kDescIndirect = 4;
constexpr uint16_t kDriverNoInterrupt = 1;
constexpr uint64_t kDescriptorSize = 16;

struct Descriptor {
  uint64_t address;
  uint32_t length;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Descriptor) == kDescriptorSize);

uint64_t driver_ring_bytes(uint16_t size) {
  return 6 + 2 * uint64_t{size};
}
uint64_t device_ring_bytes(uint16_t size) {
  return 6 + 8 * uint64_t{size};
}

}  // namespace

Result<Virtqueue> Virtqueue::create(const memory::GuestMemory& memory, const QueueLayout& layout,
                                    bool indirect_descriptors, bool event_index) {
  uint16_t size = layout.size;
  if (size == 0 || size > kMaxQueueSize || (size & (size - 1)) != 0)
    return make_error("queue size {} is not a power of two up to {}", size, kMaxQueueSize);
  if (layout.descriptors.value() % 16 || layout.driver_ring.value() % 2 ||
      layout.device_ring.value() % 4)
    return make_error("misaligned rings (descriptors {:#x}, driver {:#x}, device {:#x})",
                      layout.descriptors.value(), layout.driver_ring.value(),
                      layout.device_ring.value());
  if (!memory.contains(layout.descriptors, kDescriptorSize * size))
    return make_error("descriptor table at {:#x} is outside guest memory",
                      layout.descriptors.value());
  if (!memory.contains(layout.driver_ring, driver_ring_bytes(size)))
    return make_error("driver ring at {:#x} is outside guest memory", layout.driver_ring.value());
  if (!memory.contains(layout.device_ring, device_ring_bytes(size)))
    return make_error("device ring at {:#x} is outside guest memory", layout.device_ring.value());
  return Virtqueue(memory, layout, indirect_descriptors, event_index);
}

Result<std::optional<DescriptorChain>> Virtqueue::pop() {
  const GuestAddr driver = m_layout.driver_ring;
  uint16_t available = TRY(m_memory->read<uint16_t>(driver + 2));
  if (available == m_next_avail) {
    if (!m_event_index) return std::nullopt;
    // Ask for a kick when the driver adds the next one, then look again: it may have added
    // one between the read and the request.
    TRY(m_memory->write<uint16_t>(m_layout.device_ring + (device_ring_bytes(size()) - 2),
                                  m_next_avail));
    std::atomic_thread_fence(std::memory_order_seq_cst);
    available = TRY(m_memory->read<uint16_t>(driver + 2));
    if (available == m_next_avail) return std::nullopt;
  }
  if (static_cast<uint16_t>(available - m_next_avail) > size())
    return make_error("driver ring index jumped from {} to {} (queue size {})", m_next_avail,
                      available, size());
  // The ring entries and descriptors the index covers were written before it.
  std::atomic_thread_fence(std::memory_order_acquire);
  uint16_t head =
      TRY(m_memory->read<uint16_t>(driver + 4 + 2 * static_cast<uint64_t>(m_next_avail % size())));
  ++m_next_avail;
  DescriptorChain chain;
  chain.m_head = head;
  TRY(with_context(walk(head, chain), "descriptor chain {}", head));
  chain.m_spent = false;
  return chain;
}

Result<void> Virtqueue::add_buffer(DescriptorChain& chain, uint64_t address, uint32_t length,
                                   bool writable) const {
  if (!writable && !chain.m_writable.empty())
    return make_error("a device-readable buffer follows a device-writable one");
  if (!m_memory->contains(GuestAddr(address), length))
    return make_error("buffer {:#x} (+{}) is outside guest memory", address, length);
  if (length == 0) return {};
  uint64_t& total = writable ? chain.m_writable_bytes : chain.m_readable_bytes;
  if (total + length > DescriptorChain::kMaxBytes)
    return make_error("{} buffers of more than {} bytes",
                      writable ? "device-writable" : "device-readable", DescriptorChain::kMaxBytes);
  total += length;
  (writable ? chain.m_writable : chain.m_readable).push_back({GuestAddr(address), length});
  return {};
}

Result<void> Virtqueue::walk(uint16_t head, DescriptorChain& chain) const {
  if (head >= size()) return make_error("head index {} is past the queue size {}", head, size());
  uint16_t index = head;
  for (uint32_t count = 1;; ++count) {
    if (count > size()) return make_error("chain is longer than the queue (a loop?)");
    auto desc = TRY(m_memory->read<Descriptor>(m_layout.descriptors + kDescriptorSize * index));
    if (desc.flags & kDescIndirect) {
      if (!m_indirect) return make_error("indirect descriptor without the feature");
      if (desc.flags & kDescNext) return make_error("indirect descriptor with a next flag");
      if (desc.length == 0 || desc.length % kDescriptorSize)
        return make_error("indirect table length {} is not a multiple of 16", desc.length);
      uint32_t entries = desc.length / kDescriptorSize;
      if (entries > kMaxIndirectDescriptors)
        return make_error("indirect table of {} entries (at most {})", entries,
                          kMaxIndirectDescriptors);
      GuestAddr table(desc.address);
      if (!m_memory->contains(table, desc.length))
        return make_error("indirect table {:#x} is outside guest memory", desc.address);
      uint32_t inner = 0;
      for (uint32_t walked = 1;; ++walked) {
        if (walked > entries) return make_error("indirect chain loops");
        auto item = TRY(m_memory->read<Descriptor>(table + kDescriptorSize * inner));
        if (item.flags & kDescIndirect) return make_error("nested indirect descriptor");
        TRY(add_buffer(chain, item.address, item.length, item.flags & kDescWrite));
        if (!(item.flags & kDescNext)) break;
        inner = item.next;
        if (inner >= entries)
          return make_error("indirect next index {} is past the table ({})", inner, entries);
      }
      return {};
    }
    TRY(add_buffer(chain, desc.address, desc.length, desc.flags & kDescWrite));
    if (!(desc.flags & kDescNext)) return {};
    index = desc.next;
    if (index >= size()) return make_error("next index {} is past the queue size", index);
  }
}

DescriptorChain& DescriptorChain::operator=(DescriptorChain&& other) noexcept {
  if (this == &other) return *this;
  m_head = other.m_head;
  m_spent = std::exchange(other.m_spent, true);
  m_readable = std::move(other.m_readable);
  m_writable = std::move(other.m_writable);
  m_readable_bytes = std::exchange(other.m_readable_bytes, 0);
  m_writable_bytes = std::exchange(other.m_writable_bytes, 0);
  return *this;
}

void Virtqueue::undo_pop(DescriptorChain chain) {
  if (!chain.spent()) --m_next_avail;
}

Result<void> Virtqueue::push_used(DescriptorChain chain, uint32_t written) {
  if (chain.spent()) return make_error("a request was completed twice (or never popped)");
  if (written > chain.writable_bytes())
    return make_error("request {}: {} bytes reported written into {} bytes of buffers",
                      chain.head(), written, chain.writable_bytes());
  const uint16_t head = chain.head();
  const GuestAddr device = m_layout.device_ring;
  struct {
    uint32_t id;
    uint32_t length;
  } element{head, written};
  TRY(m_memory->write(device + 4 + 8 * static_cast<uint64_t>(m_next_used % size()), element));
  // The element must be visible before the index that publishes it.
  std::atomic_thread_fence(std::memory_order_release);
  ++m_next_used;
  TRY(m_memory->write<uint16_t>(device + 2, m_next_used));
  return {};
}

Result<bool> Virtqueue::should_notify() {
  // Our index write must be visible before we read what the driver asked for.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint16_t previous = m_last_notified_used;
  m_last_notified_used = m_next_used;
  if (previous == m_next_used) return false;
  if (m_event_index) {
    uint16_t wanted =
        TRY(m_memory->read<uint16_t>(m_layout.driver_ring + 4 + 2 * uint64_t{size()}));
    return static_cast<uint16_t>(m_next_used - wanted - 1) <
           static_cast<uint16_t>(m_next_used - previous);
  }
  uint16_t flags = TRY(m_memory->read<uint16_t>(m_layout.driver_ring));
  return !(flags & kDriverNoInterrupt);
}

}  // namespace haven::devices::virtio
