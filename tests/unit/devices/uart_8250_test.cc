#include "devices/legacy/uart_8250.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace haven::devices::legacy {
namespace {

class UartTest : public ::testing::Test {
 protected:
  uint8_t in(uint8_t reg) {
    uint8_t value = 0;
    m_uart.read(reg, std::span(&value, 1));
    return value;
  }
  void out(uint8_t reg, uint8_t value) { m_uart.write(reg, std::span(&value, 1)); }

  std::string m_output;
  std::vector<bool> m_irq_levels;
  Uart8250 m_uart{
      [this](std::span<const uint8_t> bytes) { m_output.append(bytes.begin(), bytes.end()); },
      [this](bool level) { m_irq_levels.push_back(level); }};
};

TEST_F(UartTest, TransmittedBytesReachTheConsole) {
  for (char c : std::string("hi\n")) out(0, static_cast<uint8_t>(c));
  EXPECT_EQ(m_output, "hi\n");
  EXPECT_EQ(in(5) & 0x60, 0x60);  // THRE and TEMT: transmission is instant
}

TEST_F(UartTest, ReceivedBytesSetDataReadyAndAreReadInOrder) {
  EXPECT_EQ(in(5) & 0x01, 0);
  const uint8_t typed[] = {'a', 'b'};
  EXPECT_EQ(m_uart.enqueue_input(typed), 2u);
  EXPECT_EQ(in(5) & 0x01, 1);
  EXPECT_EQ(in(0), 'a');
  EXPECT_EQ(in(0), 'b');
  EXPECT_EQ(in(5) & 0x01, 0);
  EXPECT_EQ(in(0), 0);  // empty receiver reads 0, not garbage
}

TEST_F(UartTest, InputBeyondCapacityIsRefused) {
  std::vector<uint8_t> flood(Uart8250::kInputCapacity + 10, 'x');
  EXPECT_EQ(m_uart.enqueue_input(flood), Uart8250::kInputCapacity);
}

TEST_F(UartTest, DivisorLatchIsReachedThroughDlab) {
  out(3, 0x80);  // DLAB
  out(0, 0x01);
  out(1, 0x00);
  EXPECT_EQ(in(0), 0x01);
  EXPECT_EQ(in(1), 0x00);
  out(3, 0x03);  // 8N1, DLAB off: data port is the FIFO again
  out(0, 'z');
  EXPECT_EQ(m_output, "z");
  EXPECT_EQ(in(3), 0x03);
}

TEST_F(UartTest, ScratchRegisterHoldsAValue) {
  out(7, 0x5a);
  EXPECT_EQ(in(7), 0x5a);
}

TEST_F(UartTest, ReceiveInterruptNeedsIerAndOut2) {
  out(1, 0x01);  // receive-data interrupt enabled, but OUT2 is off: no line
  const uint8_t typed[] = {'k'};
  m_uart.enqueue_input(typed);
  EXPECT_TRUE(m_irq_levels.empty() || !m_irq_levels.back());
  out(4, 0x08);  // OUT2 gates the interrupt onto the PC's IRQ line
  ASSERT_FALSE(m_irq_levels.empty());
  EXPECT_TRUE(m_irq_levels.back());
  EXPECT_EQ(in(2) & 0x0f, 0x04);  // IIR: received data
  EXPECT_EQ(in(0), 'k');
  EXPECT_FALSE(m_irq_levels.back());
  EXPECT_EQ(in(2) & 0x01, 0x01);  // no interrupt pending
}

TEST_F(UartTest, TransmitEmptyInterruptIsRaisedAndAcknowledgedByIir) {
  out(4, 0x08);
  out(1, 0x02);  // enabling THRE interrupt with THR empty raises it at once
  ASSERT_FALSE(m_irq_levels.empty());
  EXPECT_TRUE(m_irq_levels.back());
  EXPECT_EQ(in(2) & 0x0f, 0x02);
  EXPECT_FALSE(m_irq_levels.back());  // reading IIR acknowledged it
  out(0, 'x');                        // next byte: THR empty again, interrupt again
  EXPECT_TRUE(m_irq_levels.back());
}

TEST_F(UartTest, ReceivedDataOutranksTransmitEmpty) {
  out(4, 0x08);
  out(1, 0x03);
  const uint8_t typed[] = {'r'};
  m_uart.enqueue_input(typed);
  EXPECT_EQ(in(2) & 0x0f, 0x04);
}

TEST_F(UartTest, LoopbackReturnsTransmittedBytesForTheDriversSelfTest) {
  out(4, 0x10);  // loopback
  out(0, 0xa5);
  EXPECT_TRUE(m_output.empty());
  EXPECT_EQ(in(5) & 0x01, 1);
  EXPECT_EQ(in(0), 0xa5);
}

TEST_F(UartTest, FifoControlReportsFifosAndClearsTheReceiver) {
  out(2, 0x01);
  EXPECT_EQ(in(2) & 0xc0, 0xc0);
  const uint8_t typed[] = {'a', 'b', 'c'};
  m_uart.enqueue_input(typed);
  out(2, 0x03);  // clear receive FIFO
  EXPECT_EQ(in(5) & 0x01, 0);
}

}  // namespace
}  // namespace haven::devices::legacy
