#include "devices/legacy/power_controls.h"

#include <algorithm>

#include "base/log.h"

namespace haven::devices::legacy {
namespace {

constexpr uint64_t kSleepControl = 0;
constexpr uint64_t kReset = 2;
constexpr uint8_t kSleepEnable = 1 << 5;
constexpr uint8_t kPvpanicPanicked = 1 << 0;
constexpr uint8_t kPvpanicCrashLoaded = 1 << 1;

}  // namespace

void PowerControls::read(uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
}

void PowerControls::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1) return;
  uint8_t value = data[0];
  log::debug("guest wrote {:#x} to ACPI power control register {}", value, offset);
  if (offset == kSleepControl && (value & kSleepEnable)) {
    uint8_t sleep_type = (value >> 2) & 0x7;
    if (sleep_type == m_s5_sleep_type)
      m_on_request(GuestRequest::power_off);
    else
      log::warn("guest asked for ACPI sleep type {}, which Haven does not offer", sleep_type);
  } else if (offset == kReset && value == m_reset_value) {
    m_on_request(GuestRequest::reset);
  }
}

void Pvpanic::read(uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (!data.empty()) data[0] = kPvpanicPanicked | kPvpanicCrashLoaded;
}

void Pvpanic::write(uint64_t, std::span<const uint8_t> data) {
  if (data.empty()) return;
  if (data[0] & kPvpanicPanicked)
    m_on_request(GuestRequest::panic);
  else if (data[0] & kPvpanicCrashLoaded)
    log::info("guest kernel reports a crash kernel loaded (pvpanic)");
}

}  // namespace haven::devices::legacy
