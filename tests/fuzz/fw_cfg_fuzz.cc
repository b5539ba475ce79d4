// Fuzzes fw_cfg as a hostile guest drives it: the input is a sequence of port accesses
// (offsets 0..11 of 0x510, 1, 2 or 4 bytes) and DMA transfers whose 16-byte descriptors it
// places in guest RAM, followed by bytes for the rest of guest RAM. Whatever the guest does,
// the device must not crash, must touch guest RAM only through its checked accessors, and a
// transfer may change only its descriptor's control word and the bytes of its own buffer; the
// control word it leaves is 0 (done) or 1 (error), and the DMA register reads "QEMU CFG".
#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "devices/firmware/fw_cfg.h"

using haven::devices::firmware::FwCfg;
using haven::memory::GuestAddr;
using haven::memory::GuestMemory;

namespace {

constexpr uint64_t kRamSize = 1 << 20;
constexpr std::string_view kDmaSignature = "QEMU CFG";

GuestMemory& memory() {
  static GuestMemory ram = [] {
    haven::memory::RegionSpec spec{GuestAddr(0), kRamSize};
    return GuestMemory::create(std::span(&spec, 1)).value();
  }();
  return ram;
}

// A machine's worth of items and files: small ones, one larger than a copy chunk (64 KiB), and
// one refreshed on select (same size every other time, as the ACPI tables are).
void fill(FwCfg& fw_cfg) {
  fw_cfg.add_item(FwCfg::kCpuCountKey, haven::devices::firmware::le_bytes(4, 2));
  fw_cfg.add_item(FwCfg::kMaxCpusKey, haven::devices::firmware::le_bytes(4, 2));
  std::vector<uint8_t> e820(60);
  for (size_t i = 0; i < e820.size(); ++i) e820[i] = static_cast<uint8_t>(i);
  (void)fw_cfg.add_file("etc/e820", e820);
  std::string_view order = "/pci@i0cf8/scsi@2/disk@0,0";
  (void)fw_cfg.add_file("bootorder", std::vector<uint8_t>(order.begin(), order.end()));
  static const std::vector<uint8_t> tables = [] {
    std::vector<uint8_t> bytes(100 * 1024);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
    return bytes;
  }();
  (void)fw_cfg.add_file("etc/acpi/tables", tables);
  (void)fw_cfg.add_file("etc/one", {0x42});
  (void)fw_cfg.set_refresh("etc/acpi/tables", [count = 0]() mutable {
    return std::vector<uint8_t>(100 * 1024 + (count++ % 2), 0x5a);
  });
}

uint64_t load_be(const uint8_t* bytes, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) value = value << 8 | bytes[i];
  return value;
}

// One DMA transfer with `descriptor` placed at `at` (when it lies inside RAM); checks what it
// changed against `shadow`, the RAM before it, and updates the shadow.
void dma(FwCfg& fw_cfg, uint64_t at, const uint8_t* descriptor, std::vector<uint8_t>& shadow) {
  auto ram = memory().span(GuestAddr(0), kRamSize).value();
  bool inside = at <= kRamSize - 16;
  if (inside) {
    std::memcpy(ram.data() + at, descriptor, 16);
    std::memcpy(shadow.data() + at, descriptor, 16);
  }
  uint64_t length = load_be(descriptor + 4, 4), buffer = load_be(descriptor + 8, 8);
  const uint8_t high[4] = {static_cast<uint8_t>(at >> 56), static_cast<uint8_t>(at >> 48),
                           static_cast<uint8_t>(at >> 40), static_cast<uint8_t>(at >> 32)};
  const uint8_t low[4] = {static_cast<uint8_t>(at >> 24), static_cast<uint8_t>(at >> 16),
                          static_cast<uint8_t>(at >> 8), static_cast<uint8_t>(at)};
  fw_cfg.write(4, high);
  fw_cfg.write(8, low);
  // A descriptor not wholly in RAM is never read: then nothing may change at all.
  for (uint64_t page = 0; page < kRamSize; page += 4096) {
    if (std::memcmp(ram.data() + page, shadow.data() + page, 4096) == 0) continue;
    for (uint64_t i = page; i < page + 4096; ++i) {
      if (ram[i] == shadow[i]) continue;
      bool control = inside && i >= at && i < at + 4;
      bool in_buffer = inside && i >= buffer && i - buffer < length;
      if (!control && !in_buffer) std::abort();  // a write outside the transfer's own bytes
    }
  }
  if (inside) {
    uint32_t result = static_cast<uint32_t>(load_be(ram.data() + at, 4));
    if (result != 0 && result != 1) std::abort();
  }
  std::memcpy(shadow.data(), ram.data(), kRamSize);
}

}  // namespace

// Input: u16 length N of the operations, N bytes of operations, then the initial guest RAM.
// Each operation starts with a byte h: h & 0xc0 == 0xc0 is a DMA transfer (8 bytes of
// descriptor address, reduced to RAM plus a little beyond it when h & 1, then the 16-byte
// descriptor); otherwise an access at offset h % 12 of size {1, 2, 4}[(h >> 4) % 3], a write
// of the next 4 bytes when h & 0x80.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t ops_length = std::min<size_t>(data[0] | data[1] << 8, size - 2);
  const uint8_t* ops = data + 2;
  const uint8_t* ram_bytes = ops + ops_length;
  size_t ram_length = std::min<size_t>(size - 2 - ops_length, kRamSize);

  auto ram = memory().span(GuestAddr(0), kRamSize).value();
  std::memset(ram.data(), 0, kRamSize);
  std::memcpy(ram.data(), ram_bytes, ram_length);
  static std::vector<uint8_t> shadow(kRamSize);
  std::memcpy(shadow.data(), ram.data(), kRamSize);

  FwCfg fw_cfg(memory());
  fill(fw_cfg);
  int transfers = 0;
  for (size_t at = 0; at < ops_length;) {
    uint8_t h = ops[at++];
    if ((h & 0xc0) == 0xc0) {
      if (ops_length - at < 24 || ++transfers > 16) break;
      uint64_t address = load_be(ops + at, 8);
      if (h & 1) address %= kRamSize + 64;
      dma(fw_cfg, address, ops + at + 8, shadow);
      at += 24;
      continue;
    }
    uint64_t offset = h % FwCfg::kPortCount;
    size_t width = std::array<size_t, 3>{1, 2, 4}[(h >> 4) % 3];
    std::array<uint8_t, 4> bytes{};
    if (h & 0x80) {
      if (ops_length - at < 4) break;
      std::memcpy(bytes.data(), ops + at, 4);
      at += 4;
      fw_cfg.write(offset, std::span<const uint8_t>(bytes.data(), width));
      if (offset == 8 && width == 4) std::memcpy(shadow.data(), ram.data(), kRamSize);
      continue;
    }
    fw_cfg.read(offset, std::span(bytes.data(), width));
    for (size_t i = 0; i < width; ++i) {
      uint64_t index = offset + i;
      if (offset >= 4) {
        uint8_t want = index - 4 < kDmaSignature.size() ? kDmaSignature[index - 4] : 0xff;
        if (bytes[i] != want) std::abort();
      } else if (offset >= 2 && bytes[i] != 0xff) {
        std::abort();
      }
    }
  }
  return 0;
}
