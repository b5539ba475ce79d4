#include "devices/legacy/uart_8250.h"

namespace haven::devices::legacy {
namespace {

// Register numbers (offsets from the base port).
constexpr uint8_t kData = 0;  // RBR on read, THR on write; DLL with DLAB
constexpr uint8_t kIer = 1;   // DLM with DLAB
constexpr uint8_t kIir = 2;   // FCR on write
constexpr uint8_t kLcr = 3;
constexpr uint8_t kMcr = 4;
constexpr uint8_t kLsr = 5;
constexpr uint8_t kMsr = 6;
constexpr uint8_t kScr = 7;

constexpr uint8_t kIerReceivedData = 0x01;
constexpr uint8_t kIerThrEmpty = 0x02;
constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirReceivedData = 0x04;
constexpr uint8_t kIirFifosEnabled = 0xc0;
constexpr uint8_t kFcrEnableFifo = 0x01;
constexpr uint8_t kFcrClearReceive = 0x02;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrTransmitterEmpty = 0x40;
constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;

}  // namespace

void Uart8250::read(uint64_t offset, std::span<uint8_t> data) {
  MutexLock lock(m_mutex);
  // Wider accesses touch consecutive registers, as they would on an ISA bus.
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = offset + i < 8 ? read_register(static_cast<uint8_t>(offset + i)) : 0xff;
  update_irq();
}

void Uart8250::write(uint64_t offset, std::span<const uint8_t> data) {
  MutexLock lock(m_mutex);
  for (size_t i = 0; i < data.size(); ++i)
    if (offset + i < 8) write_register(static_cast<uint8_t>(offset + i), data[i]);
  update_irq();
}

void Uart8250::emit(std::span<const uint8_t> bytes) {
  MutexLock lock(m_mutex);
  m_output(bytes);
}

size_t Uart8250::enqueue_input(std::span<const uint8_t> bytes) {
  MutexLock lock(m_mutex);
  size_t room = kInputCapacity - m_input.size();
  size_t taken = std::min(room, bytes.size());
  m_input.insert(m_input.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(taken));
  update_irq();
  return taken;
}

uint8_t Uart8250::read_register(uint8_t reg) {
  const bool dlab = m_lcr & kLcrDlab;
  switch (reg) {
    case kData:
      if (dlab) return static_cast<uint8_t>(m_divisor);
      if (m_input.empty()) return 0;
      {
        uint8_t byte = m_input.front();
        m_input.pop_front();
        return byte;
      }
    case kIer:
      return dlab ? static_cast<uint8_t>(m_divisor >> 8) : m_ier;
    case kIir: {
      uint8_t iir = interrupt_identification();
      // Reading IIR acknowledges a transmit-empty interrupt it reports.
      if ((iir & 0x0f) == kIirThrEmpty) m_thr_empty_pending = false;
      return iir;
    }
    case kLcr:
      return m_lcr;
    case kMcr:
      return m_mcr;
    case kLsr:
      return kLsrThrEmpty | kLsrTransmitterEmpty | (m_input.empty() ? 0 : kLsrDataReady);
    case kMsr:
      return modem_status();
    case kScr:
      return m_scratch;
  }
  return 0xff;
}

void Uart8250::write_register(uint8_t reg, uint8_t value) {
  const bool dlab = m_lcr & kLcrDlab;
  switch (reg) {
    case kData:
      if (dlab) {
        m_divisor = static_cast<uint16_t>((m_divisor & 0xff00) | value);
        m_baud_rate_set = true;
      } else if (m_mcr & kMcrLoop) {
        if (m_input.size() < kInputCapacity) m_input.push_back(value);
        m_thr_empty_pending = true;
      } else {
        m_output(std::span(&value, 1));
        m_thr_empty_pending = true;
      }
      break;
    case kIer:
      if (dlab) {
        m_divisor = static_cast<uint16_t>((m_divisor & 0x00ff) | (value << 8));
        m_baud_rate_set = true;
      } else {
        // Enabling the transmit-empty interrupt while THR is empty raises it at once (16550).
        if ((value & kIerThrEmpty) && !(m_ier & kIerThrEmpty)) m_thr_empty_pending = true;
        m_ier = value & 0x0f;
      }
      break;
    case kIir:
      m_fcr = value & (kFcrEnableFifo | 0xc0);
      if (value & kFcrClearReceive) m_input.clear();
      break;
    case kLcr:
      m_lcr = value;
      break;
    case kMcr:
      m_mcr = value & 0x1f;
      break;
    case kScr:
      m_scratch = value;
      break;
    default:  // LSR and MSR are read-only
      break;
  }
}

uint8_t Uart8250::interrupt_identification() const {
  uint8_t fifo = (m_fcr & kFcrEnableFifo) ? kIirFifosEnabled : 0;
  if ((m_ier & kIerReceivedData) && !m_input.empty()) return fifo | kIirReceivedData;
  if ((m_ier & kIerThrEmpty) && m_thr_empty_pending) return fifo | kIirThrEmpty;
  return fifo | kIirNoInterrupt;
}

uint8_t Uart8250::modem_status() const {
  if (m_mcr & kMcrLoop) {
    // Loopback wires RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
    return ((m_mcr & kMcrRts) ? kMsrCts : 0) | ((m_mcr & kMcrDtr) ? kMsrDsr : 0) |
           ((m_mcr & kMcrOut1) ? kMsrRi : 0) | ((m_mcr & kMcrOut2) ? kMsrDcd : 0);
  }
  return kMsrCts | kMsrDsr | kMsrDcd;
}

void Uart8250::update_irq() {
  bool level = !(interrupt_identification() & kIirNoInterrupt) && (m_mcr & kMcrOut2);
  if (level == m_irq_level) return;
  m_irq_level = level;
  m_irq(level);
}

DeviceState Uart8250::save_state() {
  MutexLock lock(m_mutex);
  std::vector<uint8_t> input(m_input.begin(), m_input.end());
  return {{"ier", m_ier},
          {"lcr", m_lcr},
          {"mcr", m_mcr},
          {"fcr", m_fcr},
          {"scratch", m_scratch},
          {"divisor", m_divisor},
          {"thr_empty_pending", m_thr_empty_pending},
          {"irq_level", m_irq_level},
          {"baud_rate_set", m_baud_rate_set.load()},
          {"input", state_bytes(input)}};
}

Result<void> Uart8250::restore_state(const DeviceState& state) {
  auto input = TRY(state_byte_vector(state, "input", kInputCapacity));
  MutexLock lock(m_mutex);
  m_ier = TRY(state_field<uint8_t>(state, "ier"));
  m_lcr = TRY(state_field<uint8_t>(state, "lcr"));
  m_mcr = TRY(state_field<uint8_t>(state, "mcr"));
  m_fcr = TRY(state_field<uint8_t>(state, "fcr"));
  m_scratch = TRY(state_field<uint8_t>(state, "scratch"));
  m_divisor = TRY(state_field<uint16_t>(state, "divisor"));
  // Older snapshots lack it: a guest that ran long enough to be saved has set its baud rate.
  m_baud_rate_set =
      state.contains("baud_rate_set") ? TRY(state_field<bool>(state, "baud_rate_set")) : true;
  m_thr_empty_pending = TRY(state_field<bool>(state, "thr_empty_pending"));
  m_irq_level = TRY(state_field<bool>(state, "irq_level"));
  m_input.assign(input.begin(), input.end());
  return {};
}

}  // namespace haven::devices::legacy
