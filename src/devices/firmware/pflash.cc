#include "devices/firmware/pflash.h"

#include <algorithm>
#include <bit>

#include "base/log.h"

namespace haven::devices::firmware {
namespace {

constexpr uint8_t kReady = 0x80;         // status: write state machine ready
constexpr uint8_t kEraseError = 0x20;    // status: erase failed (read-only chip)
constexpr uint8_t kProgramError = 0x10;  // status: program failed (read-only chip)
constexpr uint8_t kConfirm = 0xd0;

}  // namespace

Pflash::Pflash(std::span<uint8_t> array, std::span<uint8_t> view, bool writable, Persist persist)
    : m_array(array), m_view(view), m_writable(writable), m_persist(std::move(persist)) {}

bool Pflash::in_read_array_mode() const {
  MutexLock lock(m_mutex);
  return m_mode == Mode::read_array;
}

uint8_t Pflash::status() const {
  MutexLock lock(m_mutex);
  return m_status;
}

void Pflash::show_status_at(std::optional<uint64_t> offset) {
  if (m_status_cell && *m_status_cell < m_view.size())
    m_view[*m_status_cell] = m_array[*m_status_cell];
  m_status_cell = offset && *offset < m_view.size() ? offset : std::nullopt;
  if (m_status_cell) m_view[*m_status_cell] = m_status;
}

void Pflash::enter(Mode mode, uint64_t offset) {
  m_mode = mode;
  m_data_cycle = false;
  // The modes whose reads answer something other than the array: the byte at the command's
  // address shows it (the status; ID and query codes are read nowhere else either).
  switch (mode) {
    case Mode::read_array:
      show_status_at(std::nullopt);
      break;
    case Mode::id:
    case Mode::query:
      show_status_at(std::nullopt);
      if (offset < m_view.size()) {
        m_status_cell = offset;
        m_view[offset] = mode == Mode::id ? 0 : query_byte(offset);
      }
      break;
    default:
      show_status_at(offset);
      break;
  }
}

uint8_t Pflash::query_byte(uint64_t offset) const {
  // The CFI query table (JEDEC JESD68.01) of one x8 device with a single erase block region;
  // with a one-byte-wide bus the table's byte index is the address. Device size is 2^N bytes,
  // rounded down (both of Debian's OVMF varstores are not powers of two).
  uint64_t index = offset & 0xff;
  uint64_t blocks = m_array.size() / kSectorSize;
  switch (index) {
    case 0x10:
      return 'Q';
    case 0x11:
      return 'R';
    case 0x12:
      return 'Y';
    case 0x13:
      return 0x01;  // primary command set: Intel/Sharp extended
    case 0x15:
      return 0x31;  // primary extended table at 0x31
    case 0x1b:
      return 0x45;  // Vcc min 4.5 V
    case 0x1c:
      return 0x55;  // Vcc max 5.5 V
    case 0x1f:
      return 0x07;  // typical program time 2^7 us
    case 0x21:
      return 0x07;  // typical sector erase time 2^7 ms
    case 0x27:
      return static_cast<uint8_t>(std::bit_width(m_array.size()) - 1);
    case 0x28:
      return 0x02;  // x8/x16 interface
    case 0x2c:
      return 0x01;  // one erase block region
    case 0x2d:
      return static_cast<uint8_t>(blocks - 1);
    case 0x2e:
      return static_cast<uint8_t>((blocks - 1) >> 8);
    case 0x2f:
      return static_cast<uint8_t>(kSectorSize >> 8);
    case 0x30:
      return static_cast<uint8_t>(kSectorSize >> 16);
    case 0x31:
      return 'P';
    case 0x32:
      return 'R';
    case 0x33:
      return 'I';
    case 0x34:
      return '1';
    case 0x35:
      return '0';
    default:
      return 0;
  }
}

void Pflash::read(uint64_t offset, std::span<uint8_t> data) {
  MutexLock lock(m_mutex);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    switch (m_mode) {
      case Mode::read_array:
        data[i] = at < m_array.size() ? m_array[at] : 0xff;
        break;
      case Mode::query:
        data[i] = query_byte(at);
        break;
      case Mode::id:
        data[i] = 0;  // no manufacturer or device code, as QEMU's x86 flash
        break;
      default:
        // Every other mode reads the status register, at any address, as QEMU's does.
        data[i] = m_status;
        break;
    }
  }
}

void Pflash::program(uint64_t offset, std::span<const uint8_t> data) {
  if (!m_writable || offset >= m_array.size() || data.size() > m_array.size() - offset) {
    m_status |= kProgramError | kReady;
    return;
  }
  std::copy(data.begin(), data.end(), m_array.begin() + static_cast<ptrdiff_t>(offset));
  std::copy(data.begin(), data.end(), m_view.begin() + static_cast<ptrdiff_t>(offset));
  m_status |= kReady;
}

void Pflash::erase(uint64_t offset) {
  uint64_t sector = offset / kSectorSize * kSectorSize;
  if (!m_writable || sector >= m_array.size()) {
    m_status |= kEraseError | kReady;
    return;
  }
  uint64_t length = std::min<uint64_t>(kSectorSize, m_array.size() - sector);
  std::fill_n(m_array.begin() + static_cast<ptrdiff_t>(sector), length, 0xff);
  std::fill_n(m_view.begin() + static_cast<ptrdiff_t>(sector), length, 0xff);
  m_status |= kReady;
  if (m_persist) m_persist(sector, length);
}

void Pflash::write(uint64_t offset, std::span<const uint8_t> data) {
  MutexLock lock(m_mutex);
  if (data.empty()) return;
  if (m_data_cycle) {
    m_data_cycle = false;
    switch (m_mode) {
      case Mode::program:
        program(offset, data);
        // Status reads until the next command (OVMF writes 0xff after its last byte).
        show_status_at(offset);
        return;
      case Mode::erase:
        // Only the confirm erases (at its address), as on the chip: a stray 0x20 alone
        // changes nothing.
        if (data[0] == kConfirm) {
          erase(offset);
          show_status_at(offset);  // the erase refreshed the sector's view
          return;
        }
        if (data[0] != 0xff) log::debug("pflash: erase not confirmed ({:#x})", data[0]);
        enter(Mode::read_array, offset);
        return;
      case Mode::lock:
        enter(Mode::read_array, offset);  // 0xd0 or 0x01 completes it; nothing is ever locked
        return;
      case Mode::query:
        if (data[0] == 0xff) enter(Mode::read_array, offset);
        return;
      default:
        break;
    }
  }
  uint8_t command = data[0];
  switch (command) {
    case 0x00:
    case 0xf0:
    case 0xff:
      if (m_mode == Mode::program && m_persist) m_persist(0, m_array.size());
      enter(Mode::read_array, offset);
      break;
    case 0x50:
      m_status = 0;
      enter(Mode::read_array, offset);
      break;
    case 0x70:
      enter(Mode::status, offset);
      break;
    case 0x90:
      enter(Mode::id, offset);
      break;
    case 0x98:
      enter(Mode::query, offset);
      m_data_cycle = true;
      break;
    case 0x10:
    case 0x40:
      enter(Mode::program, offset);
      m_data_cycle = true;
      break;
    case 0x20:
    case 0x28:
      enter(Mode::erase, offset);
      m_data_cycle = true;
      break;
    case 0x60:
      enter(Mode::lock, offset);
      m_data_cycle = true;
      break;
    default:
      log::debug("pflash: unsupported command {:#x} at {:#x}", command, offset);
      enter(Mode::read_array, offset);
      break;
  }
}

DeviceState Pflash::save_state() {
  MutexLock lock(m_mutex);
  return {
      {"mode", static_cast<uint8_t>(m_mode)}, {"data_cycle", m_data_cycle}, {"status", m_status}};
}

Result<void> Pflash::restore_state(const DeviceState& state) {
  auto mode = TRY(state_field<uint8_t>(state, "mode"));
  auto data_cycle = TRY(state_field<bool>(state, "data_cycle"));
  auto status = TRY(state_field<uint8_t>(state, "status"));
  if (mode > static_cast<uint8_t>(Mode::lock)) return make_error("pflash: mode {} unknown", mode);
  MutexLock lock(m_mutex);
  enter(static_cast<Mode>(mode), m_array.size());  // the view shows the array everywhere
  m_data_cycle = data_cycle;
  m_status = status;
  return {};
}

}  // namespace haven::devices::firmware
