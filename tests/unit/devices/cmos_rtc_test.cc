#include "devices/legacy/cmos_rtc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <vector>

namespace haven::devices::legacy {
namespace {

// Register indexes (MC146818 datasheet).
constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kWeekday = 0x06, kDay = 0x07,
                  kMonth = 0x08, kYear = 0x09, kStatusA = 0x0a, kStatusB = 0x0b, kStatusC = 0x0c,
                  kStatusD = 0x0d, kCentury = 0x32;
constexpr uint8_t kBSet = 0x80, kBBinary = 0x04, kB24Hour = 0x02;

constexpr int64_t kTuesdayAfternoon = 1795527956;     // 2026-11-24 13:45:56 UTC
constexpr int64_t kTuesdayPastMidnight = 1795480200;  // 2026-11-24 00:30:00 UTC
constexpr int64_t kTuesdayPastNoon = 1795523400;      // 2026-11-24 12:30:00 UTC
constexpr int64_t kLeapDayNight = 951868799;          // 2000-02-29 23:59:59 UTC
constexpr int64_t kMillenniumEve = 946684799;         // 1999-12-31 23:59:59 UTC

// An RTC on a clock the test sets.
class CmosRtcTest : public ::testing::Test {
 protected:
  uint8_t in(uint64_t offset) {
    uint8_t value = 0xaa;
    m_rtc.read(offset, std::span(&value, 1));
    return value;
  }
  void out(uint64_t offset, uint8_t value) { m_rtc.write(offset, std::span(&value, 1)); }
  uint8_t get(uint8_t index) {
    out(0, index);
    return in(1);
  }
  void set(uint8_t index, uint8_t value) {
    out(0, index);
    out(1, value);
  }

  int64_t m_host = kTuesdayAfternoon;
  CmosRtc m_rtc{[this] { return m_host; }};
};

TEST_F(CmosRtcTest, RegisteredAtTheRtcPorts) {
  EXPECT_EQ(CmosRtc::kBasePort, 0x70);
  EXPECT_EQ(CmosRtc::kPortCount, 2);
  EXPECT_EQ(m_rtc.name(), "cmos-rtc");
}

TEST_F(CmosRtcTest, AllTimeRegistersInBcd) {
  EXPECT_EQ(get(kSeconds), 0x56);
  EXPECT_EQ(get(kMinutes), 0x45);
  EXPECT_EQ(get(kHours), 0x13);
  EXPECT_EQ(get(kWeekday), 0x03) << "Sunday is 1";
  EXPECT_EQ(get(kDay), 0x24);
  EXPECT_EQ(get(kMonth), 0x11);
  EXPECT_EQ(get(kYear), 0x26);
  EXPECT_EQ(get(kCentury), 0x20);
}

TEST_F(CmosRtcTest, AllTimeRegistersInBinary) {
  set(kStatusB, kBBinary | kB24Hour);
  EXPECT_EQ(get(kSeconds), 56);
  EXPECT_EQ(get(kMinutes), 45);
  EXPECT_EQ(get(kHours), 13);
  EXPECT_EQ(get(kWeekday), 3);
  EXPECT_EQ(get(kDay), 24);
  EXPECT_EQ(get(kMonth), 11);
  EXPECT_EQ(get(kYear), 26);
  EXPECT_EQ(get(kCentury), 20);
}

TEST_F(CmosRtcTest, TwelveHourModeMarksPmInBitSeven) {
  set(kStatusB, 0);  // BCD, 12-hour
  EXPECT_EQ(get(kHours), 0x81) << "1 PM";
  m_host = kTuesdayPastMidnight;
  EXPECT_EQ(get(kHours), 0x12) << "12 AM";
  m_host = kTuesdayPastNoon;
  EXPECT_EQ(get(kHours), 0x92) << "12 PM";

  set(kStatusB, kBBinary);  // binary, 12-hour
  EXPECT_EQ(get(kHours), 0x80 | 12);
  m_host = kTuesdayAfternoon;
  EXPECT_EQ(get(kHours), 0x80 | 1);
  m_host = kTuesdayPastMidnight;
  EXPECT_EQ(get(kHours), 12);
}

TEST_F(CmosRtcTest, TheClockFollowsTheHost) {
  m_host += 3600 + 4;
  EXPECT_EQ(get(kSeconds), 0x00);
  EXPECT_EQ(get(kMinutes), 0x46);
  EXPECT_EQ(get(kHours), 0x14);
}

TEST_F(CmosRtcTest, DatesRollOverLeapDaysAndCenturies) {
  m_host = kLeapDayNight;
  EXPECT_EQ(get(kDay), 0x29);
  EXPECT_EQ(get(kMonth), 0x02);
  EXPECT_EQ(get(kYear), 0x00);
  EXPECT_EQ(get(kCentury), 0x20);
  ++m_host;
  EXPECT_EQ(get(kDay), 0x01);
  EXPECT_EQ(get(kMonth), 0x03);
  EXPECT_EQ(get(kHours), 0x00);

  m_host = kMillenniumEve;
  EXPECT_EQ(get(kYear), 0x99);
  EXPECT_EQ(get(kCentury), 0x19);
  EXPECT_EQ(get(kWeekday), 0x06) << "a Friday";
  ++m_host;
  EXPECT_EQ(get(kYear), 0x00);
  EXPECT_EQ(get(kCentury), 0x20);
}

TEST_F(CmosRtcTest, SetFreezesTheRegistersAndClearingItResumesFromThem) {
  set(kStatusB, kBSet | kB24Hour);
  m_host += 100;
  EXPECT_EQ(get(kSeconds), 0x56) << "no updates while SET";
  EXPECT_EQ(get(kMinutes), 0x45);
  set(kStatusB, kB24Hour);
  EXPECT_EQ(get(kSeconds), 0x56) << "counting resumes from the frozen time";
  m_host += 1;
  EXPECT_EQ(get(kSeconds), 0x57);
}

TEST_F(CmosRtcTest, GuestSetsTheWholeClockInBinary) {
  set(kStatusB, kBSet | kBBinary | kB24Hour);
  set(kHours, 5);
  set(kMinutes, 6);
  set(kSeconds, 7);
  set(kDay, 8);
  set(kMonth, 9);
  set(kYear, 10);
  set(kCentury, 20);
  set(kStatusB, kBBinary | kB24Hour);
  m_host += 2;
  EXPECT_EQ(get(kSeconds), 9);
  EXPECT_EQ(get(kMinutes), 6);
  EXPECT_EQ(get(kHours), 5);
  EXPECT_EQ(get(kDay), 8);
  EXPECT_EQ(get(kMonth), 9);
  EXPECT_EQ(get(kYear), 10);
  EXPECT_EQ(get(kWeekday), 4) << "2010-09-08 was a Wednesday";
  // The guest's time is an offset from the host's: switching the format re-encodes it.
  set(kStatusB, kB24Hour);
  EXPECT_EQ(get(kSeconds), 0x09);
  EXPECT_EQ(get(kYear), 0x10);
}

TEST_F(CmosRtcTest, GuestSetsAPmHourInTwelveHourMode) {
  set(kStatusB, kBSet);      // BCD, 12-hour
  set(kHours, 0x80 | 0x11);  // 11 PM
  set(kStatusB, 0);
  set(kStatusB, kB24Hour);
  EXPECT_EQ(get(kHours), 0x23);
  set(kStatusB, kBSet);
  set(kHours, 0x12);  // 12 AM
  set(kStatusB, 0);
  set(kStatusB, kB24Hour);
  EXPECT_EQ(get(kHours), 0x00);
}

TEST_F(CmosRtcTest, GuestSetsTheCenturyBack) {
  set(kStatusB, kBSet | kB24Hour);
  set(kCentury, 0x19);
  set(kYear, 0x99);
  set(kStatusB, kB24Hour);
  EXPECT_EQ(get(kCentury), 0x19);
  EXPECT_EQ(get(kYear), 0x99);
  EXPECT_EQ(get(kMonth), 0x11);
}

TEST_F(CmosRtcTest, WritingOneTimeRegisterWithoutSetKeepsTheOthers) {
  set(kMinutes, 0x00);
  EXPECT_EQ(get(kMinutes), 0x00);
  EXPECT_EQ(get(kHours), 0x13);
  EXPECT_EQ(get(kSeconds), 0x56);
  m_host += 60;
  EXPECT_EQ(get(kMinutes), 0x01);
  EXPECT_EQ(get(kDay), 0x24);
}

TEST_F(CmosRtcTest, StatusANeverShowsUpdateInProgress) {
  EXPECT_EQ(get(kStatusA), 0x26);
  set(kStatusA, 0x80 | 0x26);
  EXPECT_EQ(get(kStatusA), 0x26);
  set(kStatusA, 0x20);
  EXPECT_EQ(get(kStatusA), 0x20) << "the divider and rate bits are the guest's";
}

TEST_F(CmosRtcTest, StatusCAndDAreReadOnly) {
  EXPECT_EQ(get(kStatusC), 0x00);
  set(kStatusC, 0xf0);
  EXPECT_EQ(get(kStatusC), 0x00) << "no interrupt flags, ever";
  EXPECT_EQ(get(kStatusD), 0x80);
  set(kStatusD, 0x00);
  EXPECT_EQ(get(kStatusD), 0x80) << "the battery stays good";
}

TEST_F(CmosRtcTest, StatusBDefaultsTo24HourBcd) {
  EXPECT_EQ(get(kStatusB), kB24Hour);
  set(kStatusB, kBBinary | kB24Hour);
  EXPECT_EQ(get(kStatusB), kBBinary | kB24Hour);
}

TEST_F(CmosRtcTest, IndexPortDropsTheNmiMaskBit) {
  out(0, 0x80 | kStatusD);
  EXPECT_EQ(in(0), kStatusD);
  EXPECT_EQ(in(1), 0x80);
  out(0, 0x80 | kSeconds);
  EXPECT_EQ(in(1), 0x56);
}

TEST_F(CmosRtcTest, IndexesWrapIntoThe128BytesOfRam) {
  set(0x7f, 0x11);
  EXPECT_EQ(get(0xff), 0x11) << "0xff is index 0x7f with the NMI bit";
  set(0xff, 0x22);
  EXPECT_EQ(get(0x7f), 0x22);
}

TEST_F(CmosRtcTest, EveryPlainRamByteKeepsItsValue) {
  for (int index = 0x0e; index < 0x80; ++index)
    if (index != kCentury) set(static_cast<uint8_t>(index), static_cast<uint8_t>(index ^ 0xa5));
  for (int index = 0x0e; index < 0x80; ++index) {
    if (index == kCentury) continue;
    EXPECT_EQ(get(static_cast<uint8_t>(index)), index ^ 0xa5) << std::hex << index;
  }
  EXPECT_EQ(get(kSeconds), 0x56) << "RAM writes leave the clock alone";
}

TEST_F(CmosRtcTest, OffsetsPastTheDataPortAndWideAccesses) {
  EXPECT_EQ(in(2), 0xff);
  const uint8_t index_and_data[2] = {0x40, 0x99};  // one 16-bit write: index, then data
  m_rtc.write(0, index_and_data);
  EXPECT_EQ(get(0x40), 0x99);
  out(0, kMinutes);
  uint8_t pair[2] = {};
  m_rtc.read(0, pair);
  EXPECT_EQ(pair[0], kMinutes);
  EXPECT_EQ(pair[1], 0x45);
  uint8_t past[2] = {};
  m_rtc.read(1, past);
  EXPECT_EQ(past[0], 0x45);
  EXPECT_EQ(past[1], 0xff);
}

// The index register, CMOS RAM and the offset the guest gave its clock survive a snapshot
// (through its JSON text) into a freshly built RTC on the same host clock.
TEST_F(CmosRtcTest, SnapshotRestoresIndexRamAndTheGuestsClock) {
  set(0x40, 0x99);
  set(kStatusB, kBBinary | kB24Hour);
  set(kHours, 3);  // the guest moves its clock back from 13:45
  out(0, 0x41);
  DeviceState saved = DeviceState::parse(m_rtc.save_state().dump());

  CmosRtc restored([this] { return m_host; });
  auto result = restored.restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  auto rin = [&](uint64_t offset) {
    uint8_t value = 0;
    restored.read(offset, std::span(&value, 1));
    return value;
  };
  auto rget = [&](uint8_t index) {
    restored.write(0, std::span<const uint8_t>(&index, 1));
    return rin(1);
  };
  EXPECT_EQ(rin(0), 0x41) << "the index the guest left selected";
  EXPECT_EQ(rget(0x40), 0x99);
  EXPECT_EQ(rget(kStatusB), kBBinary | kB24Hour);
  m_host += 60;
  EXPECT_EQ(rget(kHours), 3);
  EXPECT_EQ(rget(kMinutes), 46) << "the restored clock runs on from the guest's time";
  EXPECT_EQ(get(kMinutes), 46);
}

TEST_F(CmosRtcTest, ASnapshotIndexOutsideTheRamIsRefused) {
  DeviceState saved = DeviceState::parse(m_rtc.save_state().dump());
  CmosRtc restored([this] { return m_host; });
  saved["index"] = 0x80u;  // the port never holds the NMI bit: this is no snapshot of ours
  auto result = restored.restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("'index'"), std::string::npos)
      << result.error().message();
  saved["index"] = 0u;
  saved["ram"] = "00";
  EXPECT_FALSE(restored.restore_state(saved)) << "RAM of the wrong size";
}

// The interrupt line as a test sees it: every level change, and a way to wait for pulses.
class RecordedIrq {
 public:
  IrqLine line() {
    return [this](bool level) {
      std::lock_guard lock(m_mutex);
      m_levels.push_back(level);
      m_changed.notify_all();
    };
  }
  size_t pulses() {
    std::lock_guard lock(m_mutex);
    return pulses_locked();
  }
  // Waits (at most `timeout`) until at least `count` pulses were seen.
  bool wait_for_pulses(size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, timeout, [&] { return pulses_locked() >= count; });
  }
  std::vector<bool> levels() {
    std::lock_guard lock(m_mutex);
    return m_levels;
  }

 private:
  size_t pulses_locked() const {
    return static_cast<size_t>(std::count(m_levels.begin(), m_levels.end(), true));
  }
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<bool> m_levels;
};

// Register access for an RTC built in a test body.
uint8_t rtc_get(CmosRtc& rtc, uint8_t index) {
  rtc.write(0, std::span<const uint8_t>(&index, 1));
  uint8_t value = 0xaa;
  rtc.read(1, std::span(&value, 1));
  return value;
}
void rtc_set(CmosRtc& rtc, uint8_t index, uint8_t value) {
  rtc.write(0, std::span<const uint8_t>(&index, 1));
  rtc.write(1, std::span<const uint8_t>(&value, 1));
}

constexpr uint8_t kBPeriodic = 0x40;   // PIE
constexpr uint8_t kRate1024Hz = 0x26;  // 32.768 kHz divider, rate select 6
// Generous: the periodic thread runs at 1024 Hz, but a loaded machine (or ASan) may starve it.
constexpr auto kPatience = std::chrono::seconds(10);

// SeaBIOS's INT 15h AH=86h (and its timer setup) enables PIE and waits for IRQ 8; the
// MC146818A sets PF and IRQF in register C with each periodic tick and clears them on a read.
TEST(CmosRtcPeriodic, PieRaisesIrq8AtTheRateAndRegisterCShowsIt) {
  RecordedIrq irq;
  CmosRtc rtc([] { return kTuesdayAfternoon; }, irq.line());
  rtc_set(rtc, kStatusA, kRate1024Hz);
  rtc_set(rtc, kStatusB, kBPeriodic | kB24Hour);
  ASSERT_TRUE(irq.wait_for_pulses(3, kPatience)) << "no periodic interrupts";
  rtc_set(rtc, kStatusB, kB24Hour);  // PIE off: no tick can land between the reads below
  EXPECT_EQ(rtc_get(rtc, kStatusC), 0xc0) << "IRQF and PF";
  EXPECT_EQ(rtc_get(rtc, kStatusC), 0x00) << "a read clears them";
  auto levels = irq.levels();
  for (size_t i = 0; i < levels.size(); ++i)
    EXPECT_EQ(levels[i], i % 2 == 0) << "pulses: raised, then lowered (an edge for the PIC)";
}

TEST(CmosRtcPeriodic, ClearingPieStopsTheInterrupts) {
  RecordedIrq irq;
  CmosRtc rtc([] { return kTuesdayAfternoon; }, irq.line());
  rtc_set(rtc, kStatusA, kRate1024Hz);
  rtc_set(rtc, kStatusB, kBPeriodic | kB24Hour);
  ASSERT_TRUE(irq.wait_for_pulses(2, kPatience));
  rtc_set(rtc, kStatusB, kB24Hour);
  size_t seen = irq.pulses();  // a tick holds the RTC's lock: none can follow the write above
  // Proving that nothing more happens needs a wait: 100 ms is ~100 periods at 1024 Hz.
  EXPECT_FALSE(irq.wait_for_pulses(seen + 1, std::chrono::milliseconds(100)));
  EXPECT_EQ(irq.pulses(), seen);
  // And they start again.
  rtc_set(rtc, kStatusB, kBPeriodic | kB24Hour);
  EXPECT_TRUE(irq.wait_for_pulses(seen + 2, kPatience));
}

TEST(CmosRtcPeriodic, RateZeroTurnsTheInterruptOff) {
  // MC146818A table 3: rate select 0000 is "none".
  RecordedIrq irq;
  CmosRtc rtc([] { return kTuesdayAfternoon; }, irq.line());
  rtc_set(rtc, kStatusA, 0x20);
  rtc_set(rtc, kStatusB, kBPeriodic | kB24Hour);
  EXPECT_FALSE(irq.wait_for_pulses(1, std::chrono::milliseconds(100)));
  EXPECT_EQ(rtc_get(rtc, kStatusC), 0x00);
  rtc_set(rtc, kStatusA, kRate1024Hz);  // a rate, and it ticks
  EXPECT_TRUE(irq.wait_for_pulses(1, kPatience));
}

TEST(CmosRtcPeriodic, WithoutALineThereIsNoTick) {
  CmosRtc rtc([] { return kTuesdayAfternoon; });
  rtc_set(rtc, kStatusA, kRate1024Hz);
  rtc_set(rtc, kStatusB, kBPeriodic | kB24Hour);
  EXPECT_EQ(rtc_get(rtc, kStatusB), kBPeriodic | kB24Hour);
  EXPECT_EQ(rtc_get(rtc, kStatusC), 0x00);
}

// The firmware's CMOS bytes (memory sizes, CPU count) go into RAM before the guest runs; they
// must never reach the clock or the status registers, whose meaning is the device's.
TEST_F(CmosRtcTest, SetNvramSetsRamBytesOnly) {
  m_rtc.set_nvram(0x34, 0x12);
  m_rtc.set_nvram(0x5f, 0x03);
  m_rtc.set_nvram(0x0e, 0x44);  // the first byte past register D
  m_rtc.set_nvram(0x7f, 0x55);
  EXPECT_EQ(get(0x34), 0x12);
  EXPECT_EQ(get(0x5f), 0x03);
  EXPECT_EQ(get(0x0e), 0x44);
  EXPECT_EQ(get(0x7f), 0x55);
  // With SET the time registers read what is stored, so a stray store would show.
  set(kStatusB, kBSet | kB24Hour);
  for (uint8_t index : {kSeconds, kMinutes, kHours, kWeekday, kDay, kMonth, kYear, kCentury,
                        kStatusA, kStatusB, kStatusC, kStatusD, uint8_t{0x01}, uint8_t{0x03}})
    m_rtc.set_nvram(index, 0x77);
  m_rtc.set_nvram(0x80, 0x66);  // past the RAM: ignored, no crash
  EXPECT_EQ(get(kSeconds), 0x56);
  EXPECT_EQ(get(kMinutes), 0x45);
  EXPECT_EQ(get(kHours), 0x13);
  EXPECT_EQ(get(kWeekday), 0x03);
  EXPECT_EQ(get(kDay), 0x24);
  EXPECT_EQ(get(kMonth), 0x11);
  EXPECT_EQ(get(kYear), 0x26);
  EXPECT_EQ(get(kCentury), 0x20);
  EXPECT_EQ(get(kStatusA), 0x26);
  EXPECT_EQ(get(kStatusB), kBSet | kB24Hour);
  EXPECT_EQ(get(kStatusC), 0x00);
  EXPECT_EQ(get(kStatusD), 0x80);
  EXPECT_EQ(get(0x01), 0x00) << "the alarm registers are the clock's too";
  EXPECT_EQ(get(0x03), 0x00);
  set(kStatusB, kB24Hour);
  m_host += 1;
  EXPECT_EQ(get(kSeconds), 0x57) << "the clock runs on unchanged";
  EXPECT_EQ(get(kHours), 0x13);
}

int from_bcd(uint8_t value) {
  return (value >> 4) * 10 + (value & 0x0f);
}

TEST(CmosRtc, WithoutAClockItUsesTheHostsTime) {
  CmosRtc rtc;
  auto year_now = [] {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    return tm.tm_year + 1900;
  };
  int before = year_now();
  uint8_t index = kCentury;
  uint8_t century = 0;
  uint8_t year = 0;
  rtc.write(0, std::span<const uint8_t>(&index, 1));
  rtc.read(1, std::span(&century, 1));
  index = kYear;
  rtc.write(0, std::span<const uint8_t>(&index, 1));
  rtc.read(1, std::span(&year, 1));
  int after = year_now();
  int seen = from_bcd(century) * 100 + from_bcd(year);
  EXPECT_TRUE(seen == before || seen == after) << seen;
}

}  // namespace
}  // namespace haven::devices::legacy
