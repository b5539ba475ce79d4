#pragma once

// The driver's side of one split virtqueue, for tests and benchmarks that play the guest:
// it lays the rings out in a GuestMemory, publishes descriptor chains and reads back what the
// device returned. It can also write deliberately broken rings.

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "devices/virtio/virtqueue.h"
#include "memory/guest_memory.h"

namespace haven::testing {

struct DriverBuffer {
  uint64_t address;
  uint32_t length;
  bool device_writable;
};

struct UsedElement {
  uint32_t id;
  uint32_t length;
};

class VirtqueueDriver {
 public:
  static constexpr uint16_t kNext = 1;
  static constexpr uint16_t kWrite = 2;
  static constexpr uint16_t kIndirect = 4;

  // The rings at `base` (desc, then driver ring at +16*size, device ring 4 KiB-aligned after).
  VirtqueueDriver(const memory::GuestMemory& memory, uint64_t base, uint16_t size)
      : m_memory(memory), m_size(size) {
    m_layout.size = size;
    m_layout.descriptors = memory::GuestAddr(base);
    m_layout.driver_ring = memory::GuestAddr(base + 16ull * size);
    uint64_t device = base + 16ull * size + 6 + 2ull * size;
    m_layout.device_ring = memory::GuestAddr((device + 4095) & ~4095ull);
    (void)m_memory.fill(m_layout.descriptors, end() - base, 0);
  }

  const devices::virtio::QueueLayout& layout() const { return m_layout; }
  uint64_t end() const { return m_layout.device_ring.value() + 6 + 8ull * m_size; }

  void write_descriptor(uint16_t index, uint64_t address, uint32_t length, uint16_t flags,
                        uint16_t next) {
    uint64_t at = m_layout.descriptors.value() + 16ull * index;
    (void)m_memory.write<uint64_t>(memory::GuestAddr(at), address);
    (void)m_memory.write<uint32_t>(memory::GuestAddr(at + 8), length);
    (void)m_memory.write<uint16_t>(memory::GuestAddr(at + 12), flags);
    (void)m_memory.write<uint16_t>(memory::GuestAddr(at + 14), next);
  }

  // Writes `buffers` as a chain from descriptor `first` on and publishes its head.
  uint16_t add_chain(const std::vector<DriverBuffer>& buffers) {
    uint16_t head = m_next_descriptor;
    for (size_t i = 0; i < buffers.size(); ++i) {
      uint16_t index = static_cast<uint16_t>((head + i) % m_size);
      bool last = i + 1 == buffers.size();
      uint16_t flags =
          static_cast<uint16_t>((last ? 0 : kNext) | (buffers[i].device_writable ? kWrite : 0));
      write_descriptor(index, buffers[i].address, buffers[i].length, flags,
                       static_cast<uint16_t>((index + 1) % m_size));
    }
    m_next_descriptor = static_cast<uint16_t>((head + buffers.size()) % m_size);
    publish(head);
    return head;
  }

  // Puts `buffers` in an indirect table at `table` and publishes one descriptor pointing to it.
  uint16_t add_indirect_chain(uint64_t table, const std::vector<DriverBuffer>& buffers) {
    for (size_t i = 0; i < buffers.size(); ++i) {
      uint64_t at = table + 16 * i;
      bool last = i + 1 == buffers.size();
      (void)m_memory.write<uint64_t>(memory::GuestAddr(at), buffers[i].address);
      (void)m_memory.write<uint32_t>(memory::GuestAddr(at + 8), buffers[i].length);
      (void)m_memory.write<uint16_t>(
          memory::GuestAddr(at + 12),
          static_cast<uint16_t>((last ? 0 : kNext) | (buffers[i].device_writable ? kWrite : 0)));
      (void)m_memory.write<uint16_t>(memory::GuestAddr(at + 14), static_cast<uint16_t>(i + 1));
    }
    uint16_t head = m_next_descriptor;
    write_descriptor(head, table, static_cast<uint32_t>(16 * buffers.size()), kIndirect, 0);
    m_next_descriptor = static_cast<uint16_t>((head + 1) % m_size);
    publish(head);
    return head;
  }

  // Appends `head` to the driver ring and bumps its index.
  void publish(uint16_t head) {
    uint64_t ring = m_layout.driver_ring.value();
    (void)m_memory.write<uint16_t>(memory::GuestAddr(ring + 4 + 2ull * (m_avail % m_size)), head);
    std::atomic_thread_fence(std::memory_order_release);
    ++m_avail;
    (void)m_memory.write<uint16_t>(memory::GuestAddr(ring + 2), m_avail);
  }
  void set_driver_index(uint16_t index) {
    m_avail = index;
    (void)m_memory.write<uint16_t>(m_layout.driver_ring + 2, index);
  }
  void set_driver_flags(uint16_t flags) {
    (void)m_memory.write<uint16_t>(m_layout.driver_ring, flags);
  }
  // The driver's "used event": interrupt me when the used index passes this.
  void set_used_event(uint16_t value) {
    (void)m_memory.write<uint16_t>(m_layout.driver_ring + (4 + 2ull * m_size), value);
  }
  uint16_t avail_event() const {
    return m_memory.read<uint16_t>(m_layout.device_ring + (4 + 8ull * m_size)).value_or(0);
  }

  // The driver ring index as published so far.
  uint16_t driver_index() const { return m_avail; }
  // After publishing from index `before` on: whether the device asked for a kick (the event
  // index rule Linux's driver follows: kick when avail_event falls in what was just added).
  bool kick_wanted(uint16_t before) const {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return static_cast<uint16_t>(m_avail - avail_event() - 1) <
           static_cast<uint16_t>(m_avail - before);
  }

  uint16_t used_index() const {
    return m_memory.read<uint16_t>(m_layout.device_ring + 2).value_or(0);
  }
  // The used elements returned since the last call.
  std::vector<UsedElement> take_used() {
    std::vector<UsedElement> out;
    uint16_t index = used_index();
    std::atomic_thread_fence(std::memory_order_acquire);
    for (; m_used != index; ++m_used) {
      uint64_t at = m_layout.device_ring.value() + 4 + 8ull * (m_used % m_size);
      out.push_back({m_memory.read<uint32_t>(memory::GuestAddr(at)).value_or(~0u),
                     m_memory.read<uint32_t>(memory::GuestAddr(at + 4)).value_or(~0u)});
    }
    return out;
  }

 private:
  const memory::GuestMemory& m_memory;
  uint16_t m_size;
  devices::virtio::QueueLayout m_layout;
  uint16_t m_next_descriptor = 0;
  uint16_t m_avail = 0;
  uint16_t m_used = 0;
};

}  // namespace haven::testing
