#include "devices/virtio/buffers.h"

#include <algorithm>
#include <cstring>

namespace haven::devices::virtio {

Result<std::vector<iovec>> buffer_iovecs(const memory::GuestMemory& memory,
                                         std::span<const Buffer> buffers, uint64_t offset,
                                         uint64_t length) {
  std::vector<iovec> iovecs;
  uint64_t remaining = length;
  for (const Buffer& buffer : buffers) {
    if (remaining == 0) break;
    if (offset >= buffer.length) {
      offset -= buffer.length;
      continue;
    }
    uint64_t take = std::min<uint64_t>(buffer.length - offset, remaining);
    auto host = TRY(memory.span(buffer.address + offset, take));
    iovecs.push_back({host.data(), host.size()});
    remaining -= take;
    offset = 0;
  }
  if (remaining != 0)
    return make_error("request needs {} more bytes than its buffers hold", remaining);
  return iovecs;
}

Result<void> copy_from_buffers(const memory::GuestMemory& memory, std::span<const Buffer> buffers,
                               uint64_t offset, std::span<uint8_t> out) {
  auto iovecs = TRY(buffer_iovecs(memory, buffers, offset, out.size()));
  size_t at = 0;
  for (const iovec& piece : iovecs) {
    std::memcpy(out.data() + at, piece.iov_base, piece.iov_len);
    at += piece.iov_len;
  }
  return {};
}

Result<void> copy_to_buffers(const memory::GuestMemory& memory, std::span<const Buffer> buffers,
                             uint64_t offset, std::span<const uint8_t> data) {
  auto iovecs = TRY(buffer_iovecs(memory, buffers, offset, data.size()));
  size_t at = 0;
  for (const iovec& piece : iovecs) {
    std::memcpy(piece.iov_base, data.data() + at, piece.iov_len);
    at += piece.iov_len;
  }
  return {};
}

Result<void> ChainCursor::check(uint64_t length) const {
  if (length > remaining())
    return make_error("request needs {} bytes more than its {} {} bytes", length - remaining(),
                      m_total, m_direction);
  return {};
}

Result<std::vector<iovec>> ChainCursor::take_iovecs(uint64_t length) {
  TRY(check(length));
  auto iovecs = TRY(buffer_iovecs(*m_memory, m_buffers, m_offset, length));
  m_offset += length;
  return iovecs;
}

Result<void> ChainReader::read(std::span<uint8_t> out) {
  TRY(check(out.size()));
  TRY(copy_from_buffers(*m_memory, m_buffers, m_offset, out));
  m_offset += out.size();
  return {};
}

Result<void> ChainWriter::write(std::span<const uint8_t> data) {
  TRY(check(data.size()));
  TRY(copy_to_buffers(*m_memory, m_buffers, m_offset, data));
  m_offset += data.size();
  return {};
}

}  // namespace haven::devices::virtio
