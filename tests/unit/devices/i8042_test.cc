#include "devices/legacy/i8042.h"

#include <gtest/gtest.h>

#include <vector>

namespace haven::devices::legacy {
namespace {

constexpr uint64_t kData = 0;
constexpr uint64_t kCommand = 4;  // status on read

class I8042Test : public ::testing::Test {
 protected:
  uint8_t in(uint64_t offset) {
    uint8_t value = 0xaa;
    m_i8042.read(offset, std::span(&value, 1));
    return value;
  }
  void out(uint64_t offset, uint8_t value) { m_i8042.write(offset, std::span(&value, 1)); }

  std::vector<GuestRequest> m_requests;
  I8042 m_i8042{[this](GuestRequest request) { m_requests.push_back(request); }};
};

TEST_F(I8042Test, RegisteredAtTheKeyboardControllerPorts) {
  EXPECT_EQ(I8042::kBasePort, 0x60);
  EXPECT_EQ(I8042::kPortCount, 5);
  EXPECT_EQ(m_i8042.name(), "i8042");
}

TEST_F(I8042Test, StatusSaysNothingToReadAndReadyForCommands) {
  // Linux's kb_wait() and DOS memory managers spin until bit 1 (input buffer full) clears; bit 0
  // would mean a byte is waiting in the data port.
  EXPECT_EQ(in(kCommand)&0x03, 0x00);
  EXPECT_EQ(in(kData), 0x00);
  uint8_t wide[4] = {1, 2, 3, 4};
  m_i8042.read(kData, wide);
  for (uint8_t byte : wide) EXPECT_EQ(byte, 0);
}

TEST_F(I8042Test, FirmwareProbesGetTheirAnswersAtOnce) {
  out(kCommand, 0xaa);  // controller self-test
  EXPECT_EQ(in(kCommand)&0x05, 0x05) << "output full, system flag set";
  EXPECT_EQ(in(kData), 0x55);
  out(kCommand, 0xab);  // keyboard interface test
  EXPECT_EQ(in(kData), 0x00);
  out(kData, 0xff);  // keyboard reset
  EXPECT_EQ(in(kData), 0xfa);
  EXPECT_EQ(in(kData), 0xaa);
  out(kData, 0xf2);  // identify
  EXPECT_EQ(in(kData), 0xfa);
  EXPECT_EQ(in(kData), 0xab);
  EXPECT_EQ(in(kData), 0x83);
  EXPECT_EQ(in(kCommand)&0x01, 0x00) << "nothing left to read";
  out(kCommand, 0x20);  // read the command byte
  out(kCommand, 0x60);  // write it
  out(kData, 0x65);
  out(kCommand, 0x20);
  EXPECT_EQ(in(kData), 0x45) << "the first read answers the old value";
  EXPECT_EQ(in(kData), 0x65);
  EXPECT_TRUE(m_requests.empty());
}

TEST_F(I8042Test, OutputPortCarriesTheA20GateAndTheResetLine) {
  out(kCommand, 0xd1);
  out(kData, 0xdf & 0x03);  // A20 on, CPU running
  out(kCommand, 0xd0);
  EXPECT_EQ(in(kData), 0x03);
  EXPECT_TRUE(m_requests.empty());
  out(kCommand, 0xd1);
  out(kData, 0x02);  // bit 0 low: reset
  EXPECT_EQ(m_requests, std::vector<GuestRequest>{GuestRequest::reset});
}

TEST_F(I8042Test, KeyboardInterruptRisesForEveryByteWhileEnabled) {
  std::vector<bool> levels;
  I8042 i8042([](GuestRequest) {}, [&levels](bool level) { levels.push_back(level); });
  auto put = [&](uint64_t offset, uint8_t value) { i8042.write(offset, std::span(&value, 1)); };
  auto get = [&](uint64_t offset) {
    uint8_t value = 0;
    i8042.read(offset, std::span(&value, 1));
    return value;
  };
  put(kData, 0xff);  // two answers: 0xfa, 0xaa
  EXPECT_EQ(levels, std::vector<bool>{true});
  get(kData);
  EXPECT_EQ(levels, (std::vector<bool>{true, false, true})) << "a fresh edge for the second byte";
  get(kData);
  EXPECT_EQ(levels, (std::vector<bool>{true, false, true, false}));
  put(kCommand, 0x60);
  put(kData, 0x44);  // keyboard interrupt off
  put(kData, 0xee);
  EXPECT_EQ(levels.size(), 4u) << "no interrupt while the command byte disables it";
}

TEST_F(I8042Test, PulseResetOnTheCommandPortResets) {
  out(kCommand, 0xfe);
  EXPECT_EQ(m_requests, std::vector<GuestRequest>{GuestRequest::reset});
  out(kCommand, 0xfe);
  EXPECT_EQ(m_requests, (std::vector<GuestRequest>{GuestRequest::reset, GuestRequest::reset}))
      << "every pulse is reported; deciding what a second one means is the machine's business";
}

TEST_F(I8042Test, OnlyPulsesOfOutputLineZeroReset) {
  for (uint8_t command : {0x00, 0x20, 0xaa, 0xad, 0xf1, 0xfd, 0xff}) out(kCommand, command);
  EXPECT_TRUE(m_requests.empty());
  out(kCommand, 0xf0);  // pulses every line, the reset line among them
  EXPECT_EQ(m_requests, std::vector<GuestRequest>{GuestRequest::reset});
}

TEST_F(I8042Test, PulseResetOnOtherPortsIsIgnored) {
  for (uint64_t offset : {0, 1, 2, 3}) out(offset, 0xfe);
  EXPECT_TRUE(m_requests.empty());
}

TEST_F(I8042Test, OnlyAByteWideCommandCounts) {
  const uint8_t wide[2] = {0xfe, 0x00};
  m_i8042.write(kCommand, wide);
  EXPECT_TRUE(m_requests.empty());
  m_i8042.write(kCommand, std::span<const uint8_t>());
  EXPECT_TRUE(m_requests.empty());
}

}  // namespace
}  // namespace haven::devices::legacy
