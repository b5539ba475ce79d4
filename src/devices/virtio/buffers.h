#pragma once

// Byte-stream views of a descriptor chain's buffers: ChainReader takes the device-readable
// bytes front to back, ChainWriter fills the device-writable ones, either as copies or as host
// iovecs for vectored I/O. Every buffer was bounds-checked when the chain was popped; these
// check again, since the guest memory map is the only authority, and never go past the end.

#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "devices/virtio/virtqueue.h"
#include "memory/guest_memory.h"

namespace haven::devices::virtio {

// Copies bytes [offset, offset + out.size()) of the buffers' concatenation into `out`; fails
// if the buffers hold fewer bytes.
Result<void> copy_from_buffers(const memory::GuestMemory& memory, std::span<const Buffer> buffers,
                               uint64_t offset, std::span<uint8_t> out);
// Copies `data` into the buffers' concatenation at `offset`; fails if it does not fit.
Result<void> copy_to_buffers(const memory::GuestMemory& memory, std::span<const Buffer> buffers,
                             uint64_t offset, std::span<const uint8_t> data);
// Host iovecs covering bytes [offset, offset + length) of the buffers' concatenation.
Result<std::vector<iovec>> buffer_iovecs(const memory::GuestMemory& memory,
                                         std::span<const Buffer> buffers, uint64_t offset,
                                         uint64_t length);

// Where a ChainReader or ChainWriter stands in one direction's buffers of a chain.
class ChainCursor {
 public:
  uint64_t offset() const { return m_offset; }
  uint64_t remaining() const { return m_total - m_offset; }
  // The next `length` bytes as host iovecs, for the caller to read or fill; fails (and stays
  // put) if fewer remain.
  Result<std::vector<iovec>> take_iovecs(uint64_t length);

 protected:
  // A start past the end is the end.
  ChainCursor(const memory::GuestMemory& memory, std::span<const Buffer> buffers, uint64_t total,
              uint64_t offset, const char* direction)
      : m_memory(&memory),
        m_buffers(buffers),
        m_total(total),
        m_offset(std::min(offset, total)),
        m_direction(direction) {}
  // Fails unless `length` more bytes are there.
  Result<void> check(uint64_t length) const;

  const memory::GuestMemory* m_memory;
  std::span<const Buffer> m_buffers;
  uint64_t m_total;
  uint64_t m_offset;
  const char* m_direction;  // "readable" or "writable", for errors
};

// The device-readable bytes of a chain, front to back, starting `offset` bytes in.
class ChainReader : public ChainCursor {
 public:
  ChainReader(const memory::GuestMemory& memory, const DescriptorChain& chain, uint64_t offset = 0)
      : ChainCursor(memory, chain.readable(), chain.readable_bytes(), offset, "readable") {}

  // The next out.size() bytes; fails (and stays put) if fewer remain.
  Result<void> read(std::span<uint8_t> out);
  template <class T>
  requires std::is_trivially_copyable_v<T> Result<T> read_object() {
    T value{};
    TRY(read(std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
    return value;
  }
};

// The device-writable bytes of a chain, filled front to back from `offset` bytes in.
// `offset()` is how far it got: what the device reports written, when it started at 0.
// take_iovecs() counts the bytes it hands out as written.
class ChainWriter : public ChainCursor {
 public:
  ChainWriter(const memory::GuestMemory& memory, const DescriptorChain& chain, uint64_t offset = 0)
      : ChainCursor(memory, chain.writable(), chain.writable_bytes(), offset, "writable") {}

  // Copies `data` in next; fails (and stays put) if it does not fit.
  Result<void> write(std::span<const uint8_t> data);
  template <class T>
  requires std::is_trivially_copyable_v<T> Result<void> write_object(const T& value) {
    return write(std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }
};

}  // namespace haven::devices::virtio
