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
#include <span>
#include <utility>
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

// One request popped from a queue: its head index and buffers, device-readable ones first.
// Move-only, and given back by value: push_used() or undo_pop() takes it, so a request cannot
// be returned to the driver twice (a moved-from chain is spent, and push_used refuses it).
// Read and write its bytes through ChainReader and ChainWriter (devices/virtio/buffers.h).
class DescriptorChain {
 public:
  // Each direction's buffers add up to at most this: the used ring reports the bytes written
  // in 32 bits, and no device takes a request anywhere near as long.
  static constexpr uint64_t kMaxBytes = UINT32_MAX;

  DescriptorChain() = default;
  DescriptorChain(DescriptorChain&& other) noexcept { *this = std::move(other); }
  DescriptorChain& operator=(DescriptorChain&& other) noexcept;
  DescriptorChain(const DescriptorChain&) = delete;
  DescriptorChain& operator=(const DescriptorChain&) = delete;

  uint16_t head() const { return m_head; }
  std::span<const Buffer> readable() const { return m_readable; }
  std::span<const Buffer> writable() const { return m_writable; }
  uint64_t readable_bytes() const { return m_readable_bytes; }
  uint64_t writable_bytes() const { return m_writable_bytes; }
  // Moved from (or never popped): not a request.
  bool spent() const { return m_spent; }

 private:
  friend class Virtqueue;

  uint16_t m_head = 0;
  bool m_spent = true;
  std::vector<Buffer> m_readable;
  std::vector<Buffer> m_writable;
  uint64_t m_readable_bytes = 0;
  uint64_t m_writable_bytes = 0;
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
  void undo_pop(DescriptorChain chain);
  // Returns a request to the driver with the number of bytes the device wrote into it (at
  // most its writable bytes). A spent chain is an error: the device completed it already.
  Result<void> push_used(DescriptorChain chain, uint32_t written);
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
