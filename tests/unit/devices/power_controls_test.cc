#include "devices/legacy/power_controls.h"

#include <gtest/gtest.h>

#include <vector>

namespace haven::devices::legacy {
namespace {

constexpr uint64_t kSleepControl = 0;
constexpr uint64_t kSleepStatus = 1;
constexpr uint64_t kReset = 2;
constexpr uint8_t kSlpEn = 0x20;

constexpr uint8_t sleep_command(uint8_t sleep_type) {
  return static_cast<uint8_t>(kSlpEn | (sleep_type << 2));
}

struct Recorder {
  std::vector<GuestRequest> seen;
  GuestRequestHandler handler() {
    return [this](GuestRequest request) { seen.push_back(request); };
  }
};

uint8_t in(BusDevice& device, uint64_t offset) {
  uint8_t value = 0xaa;
  device.read(offset, std::span(&value, 1));
  return value;
}
void out(BusDevice& device, uint64_t offset, uint8_t value) {
  device.write(offset, std::span(&value, 1));
}

TEST(PowerControls, S5WithSlpEnPowersOffWhateverTheOtherBits) {
  Recorder recorder;
  PowerControls controls(5, 1, recorder.handler());
  out(controls, kSleepControl, sleep_command(5));
  out(controls, kSleepControl, sleep_command(5) | 0xc3);  // reserved and WAK bits set too
  EXPECT_EQ(recorder.seen,
            (std::vector<GuestRequest>{GuestRequest::power_off, GuestRequest::power_off}));
}

TEST(PowerControls, OtherSleepTypesAndMissingSlpEnAreIgnored) {
  Recorder recorder;
  PowerControls controls(5, 1, recorder.handler());
  for (uint8_t type = 0; type < 8; ++type) {
    if (type == 5) continue;
    out(controls, kSleepControl, sleep_command(type));
  }
  out(controls, kSleepControl, 5 << 2);  // S5 without SLP_EN
  out(controls, kSleepControl, 0xff & ~kSlpEn);
  EXPECT_TRUE(recorder.seen.empty());
}

TEST(PowerControls, TheSleepTypeComesFromTheConstructor) {
  Recorder recorder;
  PowerControls controls(7, 0x42, recorder.handler());
  out(controls, kSleepControl, sleep_command(5));
  EXPECT_TRUE(recorder.seen.empty());
  out(controls, kSleepControl, sleep_command(7));
  out(controls, kReset, 1);
  EXPECT_EQ(recorder.seen.size(), 1u);
  out(controls, kReset, 0x42);
  EXPECT_EQ(recorder.seen,
            (std::vector<GuestRequest>{GuestRequest::power_off, GuestRequest::reset}));
}

TEST(PowerControls, OnlyTheExactResetValueOnTheResetPortResets) {
  Recorder recorder;
  PowerControls controls(5, 1, recorder.handler());
  for (uint8_t value : {0x00, 0x03, 0x21, 0x81, 0xff}) out(controls, kReset, value);
  out(controls, kSleepControl, 1);
  out(controls, kSleepStatus, 1);
  EXPECT_TRUE(recorder.seen.empty());
  out(controls, kReset, 1);
  EXPECT_EQ(recorder.seen, std::vector<GuestRequest>{GuestRequest::reset});
}

TEST(PowerControls, SleepCommandsOnOtherPortsAreIgnored) {
  Recorder recorder;
  PowerControls controls(5, 1, recorder.handler());
  out(controls, kSleepStatus, sleep_command(5));
  out(controls, kReset, sleep_command(5));
  out(controls, 3, sleep_command(5));
  EXPECT_TRUE(recorder.seen.empty());
}

TEST(PowerControls, RegistersAreByteWide) {
  Recorder recorder;
  PowerControls controls(5, 1, recorder.handler());
  const uint8_t wide[2] = {sleep_command(5), 0};
  controls.write(kSleepControl, wide);
  const uint8_t reset_wide[2] = {1, 0};
  controls.write(kReset, reset_wide);
  controls.write(kReset, std::span<const uint8_t>());
  EXPECT_TRUE(recorder.seen.empty());
}

TEST(PowerControls, AllRegistersReadZero) {
  Recorder recorder;
  PowerControls controls(5, 1, recorder.handler());
  EXPECT_EQ(in(controls, kSleepControl), 0);
  EXPECT_EQ(in(controls, kSleepStatus), 0) << "never woken";
  EXPECT_EQ(in(controls, kReset), 0);
  uint8_t wide[3] = {1, 2, 3};
  controls.read(0, wide);
  for (uint8_t byte : wide) EXPECT_EQ(byte, 0);
  EXPECT_EQ(PowerControls::kPortCount, 3);
}

TEST(Pvpanic, ReadReturnsTheSupportedEvents) {
  Recorder recorder;
  Pvpanic pvpanic(recorder.handler());
  EXPECT_EQ(in(pvpanic, 0), 0x03) << "PANICKED and CRASH_LOADED";
  uint8_t wide[4] = {0xaa, 0xaa, 0xaa, 0xaa};
  pvpanic.read(0, wide);
  EXPECT_EQ(wide[0], 0x03);
  EXPECT_EQ(wide[1], 0x00);
  EXPECT_EQ(wide[3], 0x00);
  EXPECT_TRUE(recorder.seen.empty()) << "reading reports nothing";
}

TEST(Pvpanic, ThePanickedBitReportsAPanic) {
  Recorder recorder;
  Pvpanic pvpanic(recorder.handler());
  out(pvpanic, 0, 0x00);
  out(pvpanic, 0, 0x02);  // crash kernel loaded: only logged
  out(pvpanic, 0, 0xfc);  // undefined bits
  EXPECT_TRUE(recorder.seen.empty());
  out(pvpanic, 0, 0x01);
  out(pvpanic, 0, 0x03);  // both bits: the panic is what matters
  EXPECT_EQ(recorder.seen, (std::vector<GuestRequest>{GuestRequest::panic, GuestRequest::panic}));
}

TEST(Pvpanic, WideAndEmptyWrites) {
  Recorder recorder;
  Pvpanic pvpanic(recorder.handler());
  pvpanic.write(0, std::span<const uint8_t>());
  EXPECT_TRUE(recorder.seen.empty());
  const uint8_t wide[2] = {0x01, 0x00};
  pvpanic.write(0, wide);
  EXPECT_EQ(recorder.seen, std::vector<GuestRequest>{GuestRequest::panic});
}

}  // namespace
}  // namespace haven::devices::legacy
