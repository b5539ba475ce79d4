// Fuzzes virtio-blk request parsing on top of the virtqueue walker: the input is guest RAM with
// rings and requests. Whatever the guest wrote, an I/O request must stay inside the disk, its
// data iovecs inside guest RAM, and the status byte inside a device-writable buffer.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "devices/virtio/block.h"
#include "devices/virtio/block_request.h"
#include "devices/virtio/virtqueue.h"
#include "memory/guest_memory.h"

using namespace haven::devices::virtio;
using haven::memory::GuestAddr;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  constexpr uint64_t kRam = 64 * 1024;
  static auto memory = [] {
    haven::memory::RegionSpec spec{GuestAddr(0), kRam};
    return haven::memory::GuestMemory::create(std::span(&spec, 1)).value();
  }();
  auto ram = memory.span(GuestAddr(0), kRam).value();
  std::fill(ram.begin(), ram.end(), 0);
  std::memcpy(ram.data(), data + 2, std::min(size - 2, ram.size()));
  BlockGeometry geometry{2048, (data[1] & 4) != 0, 1024};

  auto queue = Virtqueue::create(memory,
                                 {static_cast<uint16_t>(1u << (data[0] % 5)), GuestAddr(0),
                                  GuestAddr(0x100), GuestAddr(0x140)},
                                 data[1] & 1, data[1] & 2);
  if (!queue) return 0;
  for (int i = 0; i < 64; ++i) {
    auto chain = queue->pop();
    if (!chain || !*chain) break;
    auto request = parse_block_request(memory, **chain, geometry);
    if (!request) continue;
    if (!memory.contains(request->status, 1)) std::abort();
    using Kind = BlockRequest::Kind;
    if (request->kind == Kind::read || request->kind == Kind::write ||
        request->kind == Kind::discard || request->kind == Kind::write_zeroes) {
      uint64_t disk = geometry.sectors * Block::kSectorSize;
      if (request->offset > disk || request->length > disk - request->offset) std::abort();
      if (request->kind == Kind::write && geometry.readonly) std::abort();
    }
    uint64_t total = 0;
    for (const iovec& piece : request->data) {
      auto* base = static_cast<uint8_t*>(piece.iov_base);
      if (base < ram.data() || base + piece.iov_len > ram.data() + ram.size()) std::abort();
      total += piece.iov_len;
    }
    if ((request->kind == Kind::read || request->kind == Kind::write) && total != request->length)
      std::abort();
  }
  return 0;
}
