#pragma once

// A split virtqueue (virtio 1.2, 2.7) as the device side walks it: descriptor table, driver
// ("available") ring and device ("used") ring in guest memory. Every field is read through
// GuestMemory's bounds-checked accessors and treated as hostile: an index out of range, a
// chain that loops or exceeds the queue size, a nested or malformed indirect table, a
// writable descriptor before a readable one, or a buffer outside guest RAM is an error, after
// which the caller marks the device broken (the VM keeps running).
//
// Not thread-safe: one device thread owns a queue.

#include <cstdint>
#include <optional>
#include <vector>

#include "base/error.h"
#include "memory/guest_memory.h"

namespace haven::devices::virtio {

// Where the driver put the queue (the transport's queue registers).
struct QueueLayout {
  uint16_t size = 0;  // a power of two, at most kMaxQueueSize
  memory::GuestAddr descriptors;
  memory::GuestAddr driver_ring;  // "available"
  memory::GuestAddr device_ring;  // "used"
};

// Where the device stands in a queue: all a snapshot needs to let a restored device carry on
// (requests are never in flight across a snapshot: the device is paused first).
struct QueuePosition {
  uint16_t next_avail = 0;
  uint16_t next_used = 0;
  uint16_t last_notified_used = 0;
  bool operator==(const QueuePosition&) const = default;
};

struct Buffer {
  memory::GuestAddr address;
  uint32_t length = 0;
};

// One request: the head index (to return it) and its buffers, device-readable ones first.
struct DescriptorChain {
  uint16_t head = 0;
  std::vector<Buffer> readable;
  std::vector<Buffer> writable;
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

class Virtqueue {
 public:
  static constexpr uint16_t kMaxQueueSize = 32768;
  // Longest chain through an indirect table (Linux never needs more than a few hundred).
  static constexpr uint32_t kMaxIndirectDescriptors = 4096;

  // Checks the layout (size a power of two, rings aligned and inside guest memory).
  static Result<Virtqueue> create(const memory::GuestMemory& memory, const QueueLayout& layout,
                                  bool indirect_descriptors, bool event_index);

  // The next request the driver made available, or nullopt when there is none.
  Result<std::optional<DescriptorChain>> pop();
  // Gives back the chain pop() just returned, unconsumed (the device had nothing to put in it
  // yet); the next pop() returns it again.
  void undo_pop() { --m_next_avail; }
  // Returns a request to the driver with the number of bytes the device wrote into it.
  Result<void> push_used(uint16_t head, uint32_t written);
  // After pushing: whether the driver wants an interrupt for what was pushed since the last
  // call (the event index, or the driver ring's "no interrupt" flag).
  Result<bool> should_notify();
  // Requests returned to the driver so far (wraps at 2^16, as the ring index does).
  uint16_t used_index() const { return m_next_used; }
  uint16_t size() const { return m_layout.size; }
  QueuePosition position() const { return {m_next_avail, m_next_used, m_last_notified_used}; }
  void set_position(const QueuePosition& position) {
    m_next_avail = position.next_avail;
    m_next_used = position.next_used;
    m_last_notified_used = position.last_notified_used;
  }

 private:
  Virtqueue(const memory::GuestMemory& memory, const QueueLayout& layout, bool indirect,
            bool event_index)
      : m_memory(&memory), m_layout(layout), m_indirect(indirect), m_event_index(event_index) {}

  Result<void> walk(uint16_t head, DescriptorChain& chain) const;
  Result<void> add_buffer(DescriptorChain& chain, uint64_t address, uint32_t length,
                          bool writable) const;

  const memory::GuestMemory* m_memory;
  QueueLayout m_layout;
  bool m_indirect;
  bool m_event_index;
  uint16_t m_next_avail = 0;
  uint16_t m_next_used = 0;
  uint16_t m_last_notified_used = 0;
};

}  // namespace haven::devices::virtio
