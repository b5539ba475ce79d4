#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <thread>

#include "base/mutex.h"
#include "devices/bus.h"
#include "devices/guest_request.h"

namespace haven::devices::legacy {

// The MC146818 CMOS real-time clock at ports 0x70 (index) and 0x71 (data): the date and time
// from the host's clock (UTC) plus whatever offset the guest sets by writing the clock, in the
// BCD or binary, 12- or 24-hour format register B selects; 128 bytes of CMOS RAM besides. The
// update-in-progress flag never shows and no alarm or update interrupts are raised. With an
// interrupt line, the periodic interrupt works: while register B's PIE bit is set, IRQ 8 fires
// at register A's rate (at most 1024 Hz) with PF and IRQF in register C, which a read clears.
// BIOS services wait on it (SeaBIOS's INT 15h AH=86h spins until it fires).
class CmosRtc final : public BusDevice {
 public:
  static constexpr uint16_t kBasePort = 0x70;
  static constexpr uint16_t kPortCount = 2;
  using Clock = std::function<int64_t()>;  // seconds since the epoch, UTC

  explicit CmosRtc(Clock clock = {}, IrqLine irq = {});
  ~CmosRtc() override;

  // Firmware-visible CMOS RAM (memory sizes, CPU count...), set before the guest runs.
  void set_nvram(uint8_t index, uint8_t value);

  std::string_view name() const override { return "cmos-rtc"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  // Index register, CMOS RAM and the guest's clock offset.
  DeviceState save_state() override;
  Result<void> restore_state(const DeviceState& state) override;

 private:
  uint8_t read_data() HAVEN_REQUIRES(m_mutex);
  void write_data(uint8_t value) HAVEN_REQUIRES(m_mutex);
  int64_t now() const HAVEN_REQUIRES(m_mutex);
  void store_time(int64_t seconds) HAVEN_REQUIRES(m_mutex);  // into the time registers of m_ram
  int64_t stored_time() const HAVEN_REQUIRES(m_mutex);
  uint8_t encode(int value) const HAVEN_REQUIRES(m_mutex);
  int decode(uint8_t value) const HAVEN_REQUIRES(m_mutex);
  // The periodic interrupt's thread: sleeps until PIE is set, then ticks at the rate.
  void run_periodic(std::stop_token stop);
  std::chrono::nanoseconds periodic_interval() const HAVEN_REQUIRES(m_mutex);

  Mutex m_mutex;
  std::condition_variable_any m_periodic_changed;
  Clock m_clock;
  IrqLine m_irq;
  uint8_t m_index HAVEN_GUARDED_BY(m_mutex) = 0;
  std::array<uint8_t, 128> m_ram HAVEN_GUARDED_BY(m_mutex){};
  int64_t m_offset HAVEN_GUARDED_BY(m_mutex) = 0;  // guest time minus host time, seconds
  uint8_t m_flags HAVEN_GUARDED_BY(m_mutex) = 0;   // register C
  std::jthread m_periodic;                         // last: it uses the members above
};

}  // namespace haven::devices::legacy
