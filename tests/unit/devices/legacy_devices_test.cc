#include <gtest/gtest.h>

#include <vector>

#include "devices/legacy/cmos_rtc.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/power_controls.h"

namespace haven::devices::legacy {
namespace {

struct Requests {
  std::vector<GuestRequest> seen;
  GuestRequestHandler handler() {
    return [this](GuestRequest request) { seen.push_back(request); };
  }
};

uint8_t in(BusDevice& device, uint64_t offset) {
  uint8_t value = 0;
  device.read(offset, std::span(&value, 1));
  return value;
}
void out(BusDevice& device, uint64_t offset, uint8_t value) {
  device.write(offset, std::span(&value, 1));
}

TEST(I8042, PulseResetCommandResetsAndNothingElseDoes) {
  Requests requests;
  I8042 i8042(requests.handler());
  EXPECT_EQ(in(i8042, 4) & 0x03, 0);  // output and input buffers empty
  out(i8042, 0, 0xfe);                // data port: not a command
  out(i8042, 4, 0xd1);                // another command
  EXPECT_TRUE(requests.seen.empty());
  out(i8042, 4, 0xfe);
  EXPECT_EQ(requests.seen, std::vector<GuestRequest>{GuestRequest::reset});
}

TEST(PowerControls, S5SleepPowersOffAndResetValueResets) {
  Requests requests;
  PowerControls controls(5, 1, requests.handler());
  out(controls, 0, 5 << 2);           // SLP_TYP without SLP_EN: nothing
  out(controls, 0, (3 << 2) | 0x20);  // another sleep state: not supported, nothing
  out(controls, 2, 7);                // wrong reset value
  EXPECT_TRUE(requests.seen.empty());
  out(controls, 0, (5 << 2) | 0x20);
  out(controls, 2, 1);
  EXPECT_EQ(requests.seen,
            (std::vector<GuestRequest>{GuestRequest::power_off, GuestRequest::reset}));
  EXPECT_EQ(in(controls, 1), 0);  // sleep status: never woken
}

TEST(Pvpanic, AdvertisesPanicAndReportsIt) {
  Requests requests;
  Pvpanic pvpanic(requests.handler());
  EXPECT_TRUE(in(pvpanic, 0) & 1);
  out(pvpanic, 0, 2);  // crash dump loaded: only noted
  EXPECT_TRUE(requests.seen.empty());
  out(pvpanic, 0, 1);
  EXPECT_EQ(requests.seen, std::vector<GuestRequest>{GuestRequest::panic});
}

uint8_t cmos(CmosRtc& rtc, uint8_t index) {
  out(rtc, 0, index);
  return in(rtc, 1);
}

int from_bcd(uint8_t value) {
  return (value >> 4) * 10 + (value & 0xf);
}

TEST(CmosRtc, ReportsTheHostClockInBcdByDefault) {
  // 2026-11-24 13:45:56 UTC, a Tuesday.
  CmosRtc rtc([] { return int64_t{1795527956}; });
  EXPECT_EQ(cmos(rtc, 0x0b) & 0x04, 0);     // BCD
  EXPECT_EQ(cmos(rtc, 0x0b) & 0x02, 0x02);  // 24-hour
  EXPECT_EQ(from_bcd(cmos(rtc, 0x00)), 56);
  EXPECT_EQ(from_bcd(cmos(rtc, 0x02)), 45);
  EXPECT_EQ(from_bcd(cmos(rtc, 0x04)), 13);
  EXPECT_EQ(from_bcd(cmos(rtc, 0x07)), 24);
  EXPECT_EQ(from_bcd(cmos(rtc, 0x08)), 11);
  EXPECT_EQ(from_bcd(cmos(rtc, 0x09)), 26);
  EXPECT_EQ(from_bcd(cmos(rtc, 0x32)), 20);
  EXPECT_EQ(cmos(rtc, 0x0a) & 0x80, 0);     // never "update in progress"
  EXPECT_EQ(cmos(rtc, 0x0d) & 0x80, 0x80);  // RAM/time valid
}

TEST(CmosRtc, BinaryModeAndTheNmiBitOfTheIndexPort) {
  CmosRtc rtc([] { return int64_t{1795527956}; });
  out(rtc, 0, 0x0b);
  out(rtc, 1, 0x06);  // binary, 24-hour
  EXPECT_EQ(cmos(rtc, 0x00), 56);
  EXPECT_EQ(cmos(rtc, 0x80 | 0x04), 13);  // bit 7 (NMI mask) is not part of the index
}

TEST(CmosRtc, GuestSettingTheClockKeepsAnOffset) {
  int64_t host = 1795527956;
  CmosRtc rtc([&host] { return host; });
  out(rtc, 0, 0x0b);
  out(rtc, 1, 0x82);  // SET: halt updates while writing
  out(rtc, 0, 0x09);
  out(rtc, 1, 0x30);  // year 30 (BCD)
  out(rtc, 0, 0x0b);
  out(rtc, 1, 0x02);
  host += 10;
  EXPECT_EQ(from_bcd(cmos(rtc, 0x09)), 30);
  EXPECT_EQ(from_bcd(cmos(rtc, 0x00)), 6);  // 56 + 10 seconds
}

TEST(CmosRtc, PlainRamIsReadWrite) {
  CmosRtc rtc([] { return int64_t{0}; });
  out(rtc, 0, 0x40);
  out(rtc, 1, 0x99);
  EXPECT_EQ(cmos(rtc, 0x40), 0x99);
}

}  // namespace
}  // namespace haven::devices::legacy
