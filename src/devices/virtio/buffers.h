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

// The device-readable bytes of a chain, front to back, starting `offset` bytes in.
class ChainReader {
 public:
  ChainReader(const memory::GuestMemory& memory, const DescriptorChain& chain, uint64_t offset = 0)
      : m_memory(&memory),
        m_buffers(chain.readable()),
        m_total(chain.readable_bytes()),
        m_offset(std::min(offset, m_total)) {}

  uint64_t offset() const { return m_offset; }
  uint64_t remaining() const { return m_total - m_offset; }
  // The next out.size() bytes; fails (and stays put) if fewer remain.
  Result<void> read(std::span<uint8_t> out);
  template <class T>
  requires std::is_trivially_copyable_v<T> Result<T> read_object() {
    T value{};
    TRY(read(std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
    return value;
  }
  // The next `length` bytes as host iovecs, for the caller to read from.
  Result<std::vector<iovec>> take_iovecs(uint64_t length);

 private:
  const memory::GuestMemory* m_memory;
  std::span<const Buffer> m_buffers;
  uint64_t m_total;
  uint64_t m_offset;
};

// The device-writable bytes of a chain, filled front to back from `offset` bytes in.
// `offset()` is how far it got: what the device reports written, when it started at 0.
class ChainWriter {
 public:
  ChainWriter(const memory::GuestMemory& memory, const DescriptorChain& chain, uint64_t offset = 0)
      : m_memory(&memory),
        m_buffers(chain.writable()),
        m_total(chain.writable_bytes()),
        m_offset(std::min(offset, m_total)) {}

  uint64_t offset() const { return m_offset; }
  uint64_t remaining() const { return m_total - m_offset; }
  // Copies `data` in next; fails (and stays put) if it does not fit.
  Result<void> write(std::span<const uint8_t> data);
  template <class T>
  requires std::is_trivially_copyable_v<T> Result<void> write_object(const T& value) {
    return write(std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }
  // The next `length` bytes as host iovecs, for the caller to fill (counted as written).
  Result<std::vector<iovec>> take_iovecs(uint64_t length);

 private:
  const memory::GuestMemory* m_memory;
  std::span<const Buffer> m_buffers;
  uint64_t m_total;
  uint64_t m_offset;
};

}  // namespace haven::devices::virtio
