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
  // Linux's kb_wait() spins until bit 1 (input buffer full) clears; bit 0 would mean a byte is
  // waiting in the data port.
  EXPECT_EQ(in(kCommand), 0x00);
  EXPECT_EQ(in(kData), 0x00);
  uint8_t wide[4] = {1, 2, 3, 4};
  m_i8042.read(kData, wide);
  for (uint8_t byte : wide) EXPECT_EQ(byte, 0);
}

TEST_F(I8042Test, PulseResetOnTheCommandPortResets) {
  out(kCommand, 0xfe);
  EXPECT_EQ(m_requests, std::vector<GuestRequest>{GuestRequest::reset});
  out(kCommand, 0xfe);
  EXPECT_EQ(m_requests, (std::vector<GuestRequest>{GuestRequest::reset, GuestRequest::reset}))
      << "every pulse is reported; deciding what a second one means is the machine's business";
}

TEST_F(I8042Test, OtherCommandsAreIgnored) {
  for (uint8_t command : {0x00, 0x20, 0x60, 0xaa, 0xad, 0xd1, 0xf0, 0xfc, 0xfd, 0xff})
    out(kCommand, command);
  EXPECT_TRUE(m_requests.empty());
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
