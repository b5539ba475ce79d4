// Fuzzes the split-virtqueue walker: the input becomes guest RAM holding the descriptor table
// and both rings (what a hostile guest controls). Popping must never touch memory outside the
// guest, loop forever or crash, and every buffer it returns must lie inside guest RAM.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "devices/virtio/virtqueue.h"
#include "memory/guest_memory.h"

using haven::devices::virtio::Virtqueue;
using haven::memory::GuestAddr;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static auto memory = [] {
    haven::memory::RegionSpec spec{GuestAddr(0), 64 * 1024};
    return haven::memory::GuestMemory::create(std::span(&spec, 1)).value();
  }();
  // Byte 0: queue size 2^(0..4); byte 1: indirect and event-index features. The rings sit at
  // the start of RAM so that short inputs already reach them.
  auto queue_size = static_cast<uint16_t>(1u << (data[0] % 5));
  bool indirect = data[1] & 1;
  bool event_index = data[1] & 2;
  auto ram = memory.span(GuestAddr(0), 64 * 1024).value();
  std::fill(ram.begin(), ram.end(), 0);
  std::memcpy(ram.data(), data + 2, std::min(size - 2, ram.size()));

  auto queue =
      Virtqueue::create(memory, {queue_size, GuestAddr(0), GuestAddr(0x100), GuestAddr(0x140)},
                        indirect, event_index);
  if (!queue) return 0;
  for (int i = 0; i < 64; ++i) {
    auto chain = queue->pop();
    if (!chain || !*chain) break;
    for (auto list : {(*chain)->readable(), (*chain)->writable()})
      for (const auto& buffer : list)
        if (!memory.contains(buffer.address, buffer.length)) std::abort();
    auto written = static_cast<uint32_t>(std::min<uint64_t>((*chain)->writable_bytes(), 1));
    // The used ring was checked.
    if (!queue->push_used(std::move(**chain), written)) std::abort();
  }
  (void)queue->should_notify();
  return 0;
}
