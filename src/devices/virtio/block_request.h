#pragma once

// Parsing one virtio-blk request (virtio 1.2, 5.2.6) from its descriptor chain, apart from
// doing it: the header (type, sector), the data buffers as host iovecs, the discard /
// write-zeroes range, and where the status byte goes. Everything the guest wrote is checked
// here — sectors against the capacity, lengths against the buffers — so the I/O side only
// ever sees ranges inside the disk and guest RAM. Fuzzed (tests/fuzz/virtio_blk_fuzz.cc).

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "base/error.h"
#include "devices/virtio/virtqueue.h"
#include "memory/guest_memory.h"

namespace haven::devices::virtio {

struct BlockRequest {
  enum class Kind { read, write, flush, get_id, discard, write_zeroes, complete };
  Kind kind = Kind::complete;
  uint32_t type = 0;         // the request type the guest wrote
  memory::GuestAddr status;  // where the status byte goes
  uint8_t status_value = 0;  // for Kind::complete: the answer, no I/O needed
  uint64_t offset = 0;       // bytes into the disk (read, write, discard, zeroes)
  uint64_t length = 0;       // bytes
  bool unmap = false;        // discard, or write-zeroes that may deallocate
  std::vector<iovec> data;   // read/write data, get-id destination
  uint32_t used_length = 1;  // bytes reported written to the guest on success
};

struct BlockGeometry {
  uint64_t sectors = 0;
  bool readonly = false;
  uint32_t max_range_sectors = 0;  // discard / write-zeroes limit
};

// Fails only when the chain has no header or no status byte (the device is then broken);
// requests that are merely wrong (past the end, unsupported) come back as Kind::complete
// with an error status.
Result<BlockRequest> parse_block_request(const memory::GuestMemory& memory,
                                         const DescriptorChain& chain,
                                         const BlockGeometry& geometry);

}  // namespace haven::devices::virtio
