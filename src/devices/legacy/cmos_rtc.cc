#include "devices/legacy/cmos_rtc.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "base/thread_kind.h"

namespace haven::devices::legacy {
namespace {

constexpr uint8_t kSeconds = 0x00;
constexpr uint8_t kMinutes = 0x02;
constexpr uint8_t kHours = 0x04;
constexpr uint8_t kWeekday = 0x06;
constexpr uint8_t kDay = 0x07;
constexpr uint8_t kMonth = 0x08;
constexpr uint8_t kYear = 0x09;
constexpr uint8_t kStatusA = 0x0a;
constexpr uint8_t kStatusB = 0x0b;
constexpr uint8_t kStatusC = 0x0c;
constexpr uint8_t kStatusD = 0x0d;
constexpr uint8_t kCentury = 0x32;

constexpr uint8_t kAUpdateInProgress = 0x80;
constexpr uint8_t kADefault = 0x26;  // 32.768 kHz time base, 1024 Hz rate
constexpr uint8_t kARateMask = 0x0f;
constexpr uint8_t kBSet = 0x80;        // updates halted while the guest sets the clock
constexpr uint8_t kBPeriodic = 0x40;   // PIE
constexpr uint8_t kCInterrupt = 0x80;  // IRQF
constexpr uint8_t kCPeriodic = 0x40;   // PF
constexpr uint8_t kBBinary = 0x04;
constexpr uint8_t kB24Hour = 0x02;
constexpr uint8_t kDValidRam = 0x80;
constexpr uint8_t kHourPm = 0x80;
constexpr uint8_t kIndexMask = 0x7f;  // bit 7 of the index port masks NMIs

bool is_time_register(uint8_t reg) {
  return reg == kSeconds || reg == kMinutes || reg == kHours || reg == kWeekday || reg == kDay ||
         reg == kMonth || reg == kYear || reg == kCentury;
}

int64_t system_seconds() {
  return static_cast<int64_t>(std::time(nullptr));
}

}  // namespace

CmosRtc::CmosRtc(Clock clock, IrqLine irq)
    : m_clock(clock ? std::move(clock) : Clock(system_seconds)), m_irq(std::move(irq)) {
  m_ram[kStatusA] = kADefault;
  m_ram[kStatusB] = kB24Hour;
  m_ram[kStatusD] = kDValidRam;
  if (m_irq)
    m_periodic = std::jthread([this](std::stop_token stop) {
      enter_thread_kind(ThreadKind::device_worker);
      run_periodic(stop);
    });
}

CmosRtc::~CmosRtc() {
  if (m_periodic.joinable()) {
    m_periodic.request_stop();
    m_periodic.join();
  }
}

void CmosRtc::set_nvram(uint8_t index, uint8_t value) {
  MutexLock lock(m_mutex);
  if (index < m_ram.size() && !is_time_register(index) && index > kStatusD) m_ram[index] = value;
}

std::chrono::nanoseconds CmosRtc::periodic_interval() const {
  // Rate select (MC146818A, table 3, 32.768 kHz time base): 1 and 2 are 256 and 128 Hz, 3..15
  // are 32768 >> (rate - 1) Hz. Faster than 1024 Hz is delivered at 1024 Hz.
  unsigned rate = m_ram[kStatusA] & kARateMask;
  unsigned hertz = rate == 1 ? 256 : rate == 2 ? 128 : 32768u >> (rate - 1);
  hertz = std::min(hertz, 1024u);
  return std::chrono::nanoseconds(1000000000 / hertz);
}

void CmosRtc::run_periodic(std::stop_token stop) {
  MutexUniqueLock lock(m_mutex);
  auto enabled = [this]() HAVEN_REQUIRES(m_mutex) {
    return (m_ram[kStatusB] & kBPeriodic) && (m_ram[kStatusA] & kARateMask);
  };
  auto next = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    if (!enabled()) {
      m_periodic_changed.wait(lock.native(), stop, enabled);
      next = std::chrono::steady_clock::now();
      continue;
    }
    next += periodic_interval();
    auto disabled = [&]() HAVEN_REQUIRES(m_mutex) { return !enabled(); };
    if (m_periodic_changed.wait_until(lock.native(), stop, next, disabled)) continue;
    if (stop.stop_requested()) break;
    // A tick: flag it and pulse the line (IRQ 8 is edge-triggered on the PIC).
    m_flags |= kCInterrupt | kCPeriodic;
    m_irq(true);
    m_irq(false);
    // Fell behind (a stopped process): start afresh instead of firing a burst.
    auto now = std::chrono::steady_clock::now();
    if (now - next > std::chrono::milliseconds(100)) next = now;
  }
}

void CmosRtc::read(uint64_t offset, std::span<uint8_t> data) {
  MutexLock lock(m_mutex);
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i == 0)
      data[i] = m_index;
    else if (offset + i == 1)
      data[i] = read_data();
    else
      data[i] = 0xff;
  }
}

void CmosRtc::write(uint64_t offset, std::span<const uint8_t> data) {
  MutexLock lock(m_mutex);
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i == 0)
      m_index = data[i] & kIndexMask;
    else if (offset + i == 1)
      write_data(data[i]);
  }
}

uint8_t CmosRtc::read_data() {
  switch (m_index) {
    case kStatusA:
      return m_ram[kStatusA] & ~kAUpdateInProgress;
    case kStatusC: {
      uint8_t flags = m_flags;
      m_flags = 0;
      return flags;
    }
    case kStatusD:
      return kDValidRam;
    default:
      break;
  }
  if (is_time_register(m_index) && !(m_ram[kStatusB] & kBSet)) store_time(now());
  return m_ram[m_index];
}

void CmosRtc::write_data(uint8_t value) {
  if (m_index == kStatusB) {
    bool was_set = m_ram[kStatusB] & kBSet;
    bool set = value & kBSet;
    if (!was_set && set) store_time(now());  // freeze the registers for the guest to edit
    m_ram[kStatusB] = value;
    if (was_set && !set) m_offset = stored_time() - m_clock();
    m_periodic_changed.notify_all();
    return;
  }
  if (m_index == kStatusA) {
    m_ram[kStatusA] = value & ~kAUpdateInProgress;
    m_periodic_changed.notify_all();
    return;
  }
  if (m_index == kStatusC || m_index == kStatusD) return;  // read-only
  if (is_time_register(m_index)) {
    if (!(m_ram[kStatusB] & kBSet)) store_time(now());
    m_ram[m_index] = value;
    if (!(m_ram[kStatusB] & kBSet)) m_offset = stored_time() - m_clock();
    return;
  }
  m_ram[m_index] = value;
}

int64_t CmosRtc::now() const {
  return m_clock() + m_offset;
}

uint8_t CmosRtc::encode(int value) const {
  if (m_ram[kStatusB] & kBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

int CmosRtc::decode(uint8_t value) const {
  if (m_ram[kStatusB] & kBBinary) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

void CmosRtc::store_time(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  m_ram[kSeconds] = encode(tm.tm_sec);
  m_ram[kMinutes] = encode(tm.tm_min);
  if (m_ram[kStatusB] & kB24Hour) {
    m_ram[kHours] = encode(tm.tm_hour);
  } else {
    int hour12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
    m_ram[kHours] = static_cast<uint8_t>(encode(hour12) | (tm.tm_hour >= 12 ? kHourPm : 0));
  }
  m_ram[kWeekday] = encode(tm.tm_wday + 1);
  m_ram[kDay] = encode(tm.tm_mday);
  m_ram[kMonth] = encode(tm.tm_mon + 1);
  m_ram[kYear] = encode((tm.tm_year + 1900) % 100);
  m_ram[kCentury] = encode((tm.tm_year + 1900) / 100);
}

int64_t CmosRtc::stored_time() const {
  std::tm tm{};
  tm.tm_sec = decode(m_ram[kSeconds]);
  tm.tm_min = decode(m_ram[kMinutes]);
  if (m_ram[kStatusB] & kB24Hour) {
    tm.tm_hour = decode(m_ram[kHours]);
  } else {
    int hour12 = decode(m_ram[kHours] & ~kHourPm) % 12;
    tm.tm_hour = hour12 + ((m_ram[kHours] & kHourPm) ? 12 : 0);
  }
  tm.tm_mday = decode(m_ram[kDay]);
  tm.tm_mon = decode(m_ram[kMonth]) - 1;
  tm.tm_year = decode(m_ram[kCentury]) * 100 + decode(m_ram[kYear]) - 1900;
  return static_cast<int64_t>(timegm(&tm));
}

DeviceState CmosRtc::save_state() {
  MutexLock lock(m_mutex);
  return {{"index", m_index}, {"ram", state_bytes(m_ram)}, {"offset", m_offset}};
}

Result<void> CmosRtc::restore_state(const DeviceState& state) {
  MutexLock lock(m_mutex);
  m_index = TRY(state_field<uint8_t>(state, "index"));
  if (m_index > kIndexMask) return make_error("state field 'index' is out of range");
  TRY(state_bytes_into(state, "ram", m_ram));
  m_offset = TRY(state_field<int64_t>(state, "offset"));
  m_periodic_changed.notify_all();
  return {};
}

}  // namespace haven::devices::legacy
