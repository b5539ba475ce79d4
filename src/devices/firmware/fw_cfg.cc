#include "devices/firmware/fw_cfg.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "base/byte_order.h"

namespace haven::devices::firmware {
namespace {

constexpr uint64_t kSelectorOffset = 0;
constexpr uint64_t kDmaOffset = 4;
constexpr uint64_t kDmaLowOffset = 8;
constexpr std::string_view kDmaSignature = "QEMU CFG";
constexpr uint32_t kIdTraditional = 1u << 0;
constexpr uint32_t kIdDma = 1u << 1;
constexpr uint16_t kKeyWriteBit = 0x4000;  // the retired "write" flag: ignored, as QEMU does

// DMA control bits (QEMU docs/specs/fw_cfg.rst, "FWCfgDmaAccess").
constexpr uint32_t kDmaError = 0x01;
constexpr uint32_t kDmaRead = 0x02;
constexpr uint32_t kDmaSkip = 0x04;
constexpr uint32_t kDmaSelect = 0x08;
constexpr uint32_t kDmaWrite = 0x10;
constexpr size_t kDescriptorSize = 16;
constexpr size_t kDirectoryEntrySize = 64;
constexpr uint64_t kCopyChunk = 64 * 1024;

void put_be(std::vector<uint8_t>& out, uint64_t value, size_t width) {
  for (size_t i = width; i-- > 0;) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

}  // namespace

std::vector<uint8_t> le_bytes(uint64_t value, size_t width) {
  std::vector<uint8_t> bytes(width);
  for (size_t i = 0; i < width; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  return bytes;
}

FwCfg::FwCfg(const memory::GuestMemory& memory) : m_memory(memory) {
  m_items[kSignatureKey] = {'Q', 'E', 'M', 'U'};
  m_items[kIdKey] = le_bytes(kIdTraditional | kIdDma, 4);
  rebuild_directory();
}

void FwCfg::add_item(uint16_t key, std::vector<uint8_t> data) {
  MutexLock lock(m_mutex);
  m_items[key] = std::move(data);
}

Result<void> FwCfg::add_file(const std::string& name, std::vector<uint8_t> data) {
  MutexLock lock(m_mutex);
  if (name.empty() || name.size() > kMaxFileName || name.find('\0') != std::string::npos)
    return make_error("fw_cfg: file name '{}' is not 1 to {} characters", name, kMaxFileName);
  if (std::any_of(m_files.begin(), m_files.end(), [&](const auto& f) { return f.first == name; }))
    return make_error("fw_cfg: file '{}' added twice", name);
  if (data.size() > UINT32_MAX) return make_error("fw_cfg: file '{}' is too large", name);
  uint16_t key = static_cast<uint16_t>(kFirstFileKey + m_files.size());
  if (key >= kKeyWriteBit) return make_error("fw_cfg: too many files");
  m_files.emplace_back(name, key);
  m_items[key] = std::move(data);
  rebuild_directory();
  return {};
}

Result<void> FwCfg::set_refresh(const std::string& name, Refresh refresh) {
  auto key = file_key(name);
  if (!key) return make_error("fw_cfg: no file '{}'", name);
  MutexLock lock(m_mutex);
  m_refresh[*key] = std::move(refresh);
  return {};
}

std::optional<uint16_t> FwCfg::file_key(const std::string& name) const {
  MutexLock lock(m_mutex);
  for (const auto& [file, key] : m_files)
    if (file == name) return key;
  return std::nullopt;
}

void FwCfg::rebuild_directory() {
  // A big-endian count, then per file: size, key, two reserved bytes, a NUL-padded name.
  std::vector<uint8_t> directory;
  put_be(directory, m_files.size(), 4);
  for (const auto& [name, key] : m_files) {
    put_be(directory, m_items[key].size(), 4);
    put_be(directory, key, 2);
    put_be(directory, 0, 2);
    std::array<uint8_t, kDirectoryEntrySize - 8> padded{};
    std::copy(name.begin(), name.end(), padded.begin());
    directory.insert(directory.end(), padded.begin(), padded.end());
  }
  m_items[kFileDirectoryKey] = std::move(directory);
}

const std::vector<uint8_t>* FwCfg::selected() const {
  auto it = m_items.find(m_key);
  return it == m_items.end() ? nullptr : &it->second;
}

void FwCfg::select(uint16_t key) {
  m_key = key & ~kKeyWriteBit;
  m_offset = 0;
  if (auto refresh = m_refresh.find(m_key); refresh != m_refresh.end()) {
    auto fresh = refresh->second();
    auto& item = m_items[m_key];
    if (fresh.size() == item.size()) item = std::move(fresh);
  }
}

uint8_t FwCfg::next_byte() {
  const auto* item = selected();
  if (!item || m_offset >= item->size()) return 0;
  return (*item)[m_offset++];
}

void FwCfg::read(uint64_t offset, std::span<uint8_t> data) {
  MutexLock lock(m_mutex);
  if (offset < kDmaOffset) {
    // Either port of the pair reads the data stream, a byte at a time.
    for (uint8_t& byte : data) byte = offset < 2 ? next_byte() : 0xff;
    return;
  }
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset - kDmaOffset + i;
    data[i] = at < kDmaSignature.size() ? static_cast<uint8_t>(kDmaSignature[at]) : 0xff;
  }
}

void FwCfg::write(uint64_t offset, std::span<const uint8_t> data) {
  MutexLock lock(m_mutex);
  if (offset == kSelectorOffset && data.size() == 2) {
    select(static_cast<uint16_t>(data[0] | data[1] << 8));
  } else if (offset == kDmaOffset && data.size() == 4) {
    m_dma_address = load_be(data, 0, 4) << 32;
  } else if (offset == kDmaLowOffset && data.size() == 4) {
    uint64_t address = m_dma_address | load_be(data, 0, 4);
    m_dma_address = 0;
    dma(address);
  }
  // Data-port writes were retired from the interface (QEMU 2.4): ignored.
}

void FwCfg::dma(uint64_t descriptor_address) {
  memory::GuestAddr descriptor(descriptor_address);
  std::array<uint8_t, kDescriptorSize> raw{};
  // A descriptor outside guest RAM cannot even be told it failed.
  if (!m_memory.read_bytes(descriptor, raw)) return;
  auto control = static_cast<uint32_t>(load_be(raw, 0, 4));
  auto length = static_cast<uint32_t>(load_be(raw, 4, 4));
  uint64_t address = load_be(raw, 8, 8);
  if (control & kDmaSelect) select(static_cast<uint16_t>(control >> 16));
  bool ok = dma_transfer(control, length, address);
  std::array<uint8_t, 4> result{0, 0, 0, static_cast<uint8_t>(ok ? 0 : kDmaError)};
  (void)m_memory.write_bytes(descriptor, result);
}

bool FwCfg::dma_transfer(uint32_t control, uint32_t length, uint64_t address) {
  if (control & kDmaRead) {
    // The item's bytes from the current offset, then zeros past its end.
    const auto* item = selected();
    uint64_t done = 0;
    while (done < length) {
      uint64_t available = item && m_offset < item->size() ? item->size() - m_offset : 0;
      uint64_t chunk = std::min<uint64_t>(length - done, kCopyChunk);
      memory::GuestAddr target(address + done);
      if (address + done < address) return false;  // wrapped
      if (available > 0) {
        chunk = std::min(chunk, available);
        if (!m_memory.write_bytes(target, std::span(item->data() + m_offset, chunk))) return false;
        m_offset += chunk;
      } else if (!m_memory.fill(target, chunk, 0)) {
        return false;
      }
      done += chunk;
    }
    return true;
  }
  if (control & kDmaWrite) return false;  // no writable items
  if (control & kDmaSkip) {
    const auto* item = selected();
    m_offset = std::min<uint64_t>(m_offset + length, item ? item->size() : 0);
    return true;
  }
  return true;
}

DeviceState FwCfg::save_state() {
  MutexLock lock(m_mutex);
  return {{"key", m_key}, {"offset", m_offset}, {"dma_address", m_dma_address}};
}

Result<void> FwCfg::restore_state(const DeviceState& state) {
  auto key = TRY(state_field<uint16_t>(state, "key"));
  auto offset = TRY(state_field<uint64_t>(state, "offset"));
  auto dma_address = TRY(state_field<uint64_t>(state, "dma_address"));
  MutexLock lock(m_mutex);
  select(key);  // a file made when selected (the ACPI tables) is made again, as it was read
  m_offset = offset;
  m_dma_address = dma_address;
  return {};
}

}  // namespace haven::devices::firmware
