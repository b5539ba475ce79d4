#include "devices/chipset/piix4_pm.h"

#include <time.h>

#include <algorithm>

#include "base/log.h"
#include "base/mutex.h"
#include "devices/chipset/i440fx_host.h"

namespace haven::devices::chipset {
namespace {

constexpr uint16_t kSciEnable = 1u << 0;     // PM1_CNT.SCI_EN
constexpr uint16_t kSleepEnable = 1u << 13;  // PM1_CNT.SLP_EN
constexpr unsigned kSleepTypeShift = 10;     // PM1_CNT.SLP_TYP, bits 12:10
constexpr uint16_t kSleepTypeSoftOff = 0;    // what QEMU's PIIX4 and OVMF use for S5
// PM1 status bits that raise the SCI when enabled (ACPI 6.4, 4.8.3.1): timer, global lock,
// power button, sleep button, RTC.
constexpr uint16_t kSciSources = 0x0001 | 0x0020 | 0x0100 | 0x0200 | 0x0400;
constexpr uint8_t kDevActB = 0x5b;     // DEVACTB bits 31:24
constexpr uint8_t kApmcEnable = 0x02;  // DEVACTB bit 25

uint64_t monotonic_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace

// The PM1 event and control registers and the timer. Self-contained (the bus may keep it
// after the PCI function is gone), locked on its own: vCPUs and the control socket's power
// button reach it at any time.
class Piix4Pm::Registers final : public BusDevice {
 public:
  Registers(GuestRequestHandler on_request, IrqLine sci, Clock clock)
      : m_on_request(std::move(on_request)),
        m_sci(std::move(sci)),
        m_clock(std::move(clock)),
        m_origin(m_clock()) {}
  std::string_view name() const override { return "piix4-pm-registers"; }

  void read(uint64_t offset, std::span<uint8_t> data) override {
    MutexLock lock(m_mutex);
    uint32_t ticks = timer_ticks();
    auto byte_of = [](uint32_t value, uint64_t index) {
      return static_cast<uint8_t>(value >> (8 * index));
    };
    for (size_t i = 0; i < data.size(); ++i) {
      uint64_t at = offset + i;
      if (at < kEnableOffset)
        data[i] = byte_of(m_status, at - kStatusOffset);
      else if (at < kControlOffset)
        data[i] = byte_of(m_enable, at - kEnableOffset);
      else if (at < kControlOffset + 2)
        data[i] = byte_of(m_control, at - kControlOffset);
      else if (at >= kTimerOffset && at < kTimerOffset + 4)
        data[i] = byte_of(ticks, at - kTimerOffset);
      else
        data[i] = at < kTimerOffset ? 0 : 0xff;
    }
  }

  void write(uint64_t offset, std::span<const uint8_t> data) override {
    bool power_off = false;
    {
      MutexLock lock(m_mutex);
      for (size_t i = 0; i < data.size(); ++i) {
        uint64_t at = offset + i;
        uint16_t byte = data[i];
        if (at < 2) {
          m_status &= ~static_cast<uint16_t>(byte << (8 * at));  // write one to clear
        } else if (at < 4) {
          unsigned shift = 8 * static_cast<unsigned>(at - 2);
          m_enable = static_cast<uint16_t>((m_enable & ~(0xffu << shift)) | byte << shift);
        } else if (at < 6) {
          unsigned shift = 8 * static_cast<unsigned>(at - 4);
          m_control = static_cast<uint16_t>((m_control & ~(0xffu << shift)) | byte << shift);
        }
      }
      if (m_control & kSleepEnable) {
        unsigned type = (m_control >> kSleepTypeShift) & 7;
        if (type == kSleepTypeSoftOff)
          power_off = true;
        else
          log::warn("piix4-pm: the guest asked for sleep type {}; only soft-off (0) is offered",
                    type);
      }
      // SLP_EN is write-only; SCI_EN reads 1: no SMM owns the hardware, it is always ACPI's.
      m_control = static_cast<uint16_t>((m_control & ~kSleepEnable) | kSciEnable);
      update_sci();
    }
    if (power_off) m_on_request(GuestRequest::power_off);
  }

  void press_power_button() {
    MutexLock lock(m_mutex);
    m_status |= kPowerButton;
    update_sci();
  }

  DeviceState save() const {
    MutexLock lock(m_mutex);
    return {{"status", m_status},
            {"enable", m_enable},
            {"control", m_control},
            {"timer", timer_ticks()}};
  }
  Result<void> restore(const DeviceState& state) {
    auto status = TRY(state_field<uint16_t>(state, "status"));
    auto enable = TRY(state_field<uint16_t>(state, "enable"));
    auto control = TRY(state_field<uint16_t>(state, "control"));
    auto timer = TRY(state_field<uint32_t>(state, "timer"));
    if (timer > 0xffffff) return make_error("pm timer {:#x}: wider than 24 bits", timer);
    MutexLock lock(m_mutex);
    // The timer goes on from where it stood (a guest's clocksource must not jump back).
    m_origin = m_clock() - uint64_t{timer} * 1000000000u / kTimerHz;
    m_status = status;
    m_enable = enable;
    m_control = control;
    update_sci();
    return {};
  }

 private:
  uint32_t timer_ticks() const {
    auto elapsed = static_cast<unsigned __int128>(m_clock() - m_origin);
    return static_cast<uint32_t>(elapsed * kTimerHz / 1000000000u) & 0xffffff;
  }
  void update_sci() HAVEN_REQUIRES(m_mutex) {
    bool level = (m_status & m_enable & kSciSources) != 0;
    if (level != m_sci_level && m_sci) m_sci(level);
    m_sci_level = level;
  }

  GuestRequestHandler m_on_request;
  IrqLine m_sci;
  Clock m_clock;
  uint64_t m_origin;
  mutable Mutex m_mutex;
  uint16_t m_status HAVEN_GUARDED_BY(m_mutex) = 0;
  uint16_t m_enable HAVEN_GUARDED_BY(m_mutex) = 0;
  uint16_t m_control HAVEN_GUARDED_BY(m_mutex) = kSciEnable;
  bool m_sci_level HAVEN_GUARDED_BY(m_mutex) = false;
};

Piix4Pm::Piix4Pm(Bus& pio, GuestRequestHandler on_request, IrqLine sci, Clock clock)
    : PciDevice({.vendor = kVendor,
                 .device = kDevice,
                 .revision = 0x03,
                 .class_code = 0x068000,  // bridge, other
                 .subsystem_vendor = kQemuSubsystemVendor,
                 .subsystem = kQemuSubsystem}),
      m_pio(pio),
      m_registers(std::make_shared<Registers>(std::move(on_request), std::move(sci),
                                              clock ? std::move(clock) : Clock(monotonic_ns))) {
  make_registers_writable(config(), 0x40);
  set_interrupt_pin(1);
  config().set_u8(pci::kInterruptLine, kSciIrq);
  // PMBA: an I/O space indicator (bit 0, read-only) and a 64-byte aligned base.
  config().set_u32(kPmBase, 0x00000001);
  config().set_writable(kPmBase, 0xc0);
  config().set_writable(kPmBase + 2, 0);
  config().set_writable(kPmBase + 3, 0);
  config().set_writable(kPmRegMisc, 0x01);
  config().set_u8(kDevActB, kApmcEnable);
  config().set_writable(kDevActB, static_cast<uint8_t>(~kApmcEnable));
}

void Piix4Pm::bar_read(int, uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
}

std::optional<uint16_t> Piix4Pm::io_base() const {
  return m_mapped;
}

uint16_t Piix4Pm::programmed_base() const {
  return m_programmed.load();
}

void Piix4Pm::press_power_button() {
  m_registers->press_power_button();
}

void Piix4Pm::config_written(uint32_t offset, uint32_t length) {
  bool base = offset < kPmBase + 4u && offset + length > kPmBase;
  bool misc = offset <= kPmRegMisc && offset + length > kPmRegMisc;
  if (base || misc) remap();
}

DeviceState Piix4Pm::save_state() {
  DeviceState state = PciDevice::save_state();
  state["registers"] = m_registers->save();
  return state;
}

Result<void> Piix4Pm::restore_state(const DeviceState& state) {
  TRY(PciDevice::restore_state(state));
  if (!state.contains("registers")) return make_error("PIIX4 PM state has no 'registers'");
  TRY(m_registers->restore(state["registers"]));
  remap();
  return {};
}

void Piix4Pm::remap() {
  m_programmed = static_cast<uint16_t>(config().u32(kPmBase) & 0xffc0);
  std::optional<uint16_t> wanted;
  if (config().u8(kPmRegMisc) & 1) wanted = m_programmed.load();
  if (wanted == m_mapped) return;
  if (m_mapped) m_pio.remove(*m_registers, *m_mapped);
  m_mapped.reset();
  if (!wanted) return;
  if (auto added = m_pio.add(m_registers, *wanted, kBlockSize); !added) {
    // A base on top of another device: the guest chose badly.
    if (!m_warned)
      log::warn("piix4-pm: PM registers at {:#x}: {}", *wanted, added.error().message());
    m_warned = true;
    return;
  }
  m_mapped = wanted;
}

}  // namespace haven::devices::chipset
