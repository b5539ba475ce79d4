#pragma once

// Byte-stream views of a descriptor chain's buffers: copy the device-readable bytes out, copy
// device-writable bytes in, or turn a byte range into host iovecs for vectored I/O. Every
// buffer was bounds-checked when the chain was popped; these check again, since the guest
// memory map is the only authority.

#include <sys/uio.h>

#include <cstdint>
#include <span>
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

}  // namespace haven::devices::virtio
