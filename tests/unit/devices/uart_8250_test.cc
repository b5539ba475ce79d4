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

// Register offsets and bits, spelled out as the 16550 datasheet names them.
constexpr uint8_t kRbr = 0, kIer = 1, kIir = 2, kFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                  kScr = 7;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kMcrOut2 = 0x08, kMcrLoop = 0x10;

TEST_F(UartTest, ResetStateIsAnIdleConnectedPort) {
  EXPECT_EQ(in(kIer), 0x00);
  EXPECT_EQ(in(kIir), 0x01) << "no interrupt pending, FIFOs off";
  EXPECT_EQ(in(kLcr), 0x00);
  EXPECT_EQ(in(kMcr), 0x00);
  EXPECT_EQ(in(kLsr), kLsrThre | kLsrTemt);
  EXPECT_EQ(in(kMsr), 0xb0) << "CTS, DSR and DCD asserted";
  EXPECT_EQ(in(kScr), 0x00);
  EXPECT_TRUE(m_irq_levels.empty());
}

TEST_F(UartTest, DefaultDivisorIs9600Baud) {
  out(kLcr, 0x80);
  EXPECT_EQ(in(0), 12);
  EXPECT_EQ(in(1), 0);
}

TEST_F(UartTest, DivisorLatchHighByteAndDlabHidesIerAndTheFifos) {
  const uint8_t typed[] = {'q'};
  m_uart.enqueue_input(typed);
  out(kIer, 0x01);
  out(kLcr, 0x83);
  out(1, 0x04);  // DLM, not IER
  out(0, 0x80);  // DLL, not THR
  EXPECT_TRUE(m_output.empty());
  EXPECT_EQ(in(1), 0x04);
  EXPECT_EQ(in(0), 0x80) << "DLL, and the received byte stays queued";
  out(kLcr, 0x03);
  EXPECT_EQ(in(kIer), 0x01) << "the DLM write left IER alone";
  EXPECT_EQ(in(kLsr)&kLsrDr, kLsrDr);
  EXPECT_EQ(in(kRbr), 'q');
  out(kLcr, 0x80);
  EXPECT_EQ(in(1), 0x04) << "the latch keeps its value";
  EXPECT_EQ(in(0), 0x80);
}

TEST_F(UartTest, IerKeepsOnlyItsFourDefinedBits) {
  out(kIer, 0xff);
  EXPECT_EQ(in(kIer), 0x0f);
}

TEST_F(UartTest, McrKeepsFiveBitsAndLsrMsrAreReadOnly) {
  out(kMcr, 0xe3);
  EXPECT_EQ(in(kMcr), 0x03);
  out(kLsr, 0x00);
  EXPECT_EQ(in(kLsr), kLsrThre | kLsrTemt);
  out(kMsr, 0x00);
  EXPECT_EQ(in(kMsr), 0xb0);
}

TEST_F(UartTest, LoopbackWiresTheModemControlLinesToTheStatusLines) {
  out(kMcr, kMcrLoop);
  EXPECT_EQ(in(kMsr), 0x00);
  out(kMcr, kMcrLoop | 0x01);  // DTR -> DSR
  EXPECT_EQ(in(kMsr), 0x20);
  out(kMcr, kMcrLoop | 0x02);  // RTS -> CTS
  EXPECT_EQ(in(kMsr), 0x10);
  out(kMcr, kMcrLoop | 0x04);  // OUT1 -> RI
  EXPECT_EQ(in(kMsr), 0x40);
  out(kMcr, kMcrLoop | 0x08);  // OUT2 -> DCD
  EXPECT_EQ(in(kMsr), 0x80);
  out(kMcr, 0x1f);
  EXPECT_EQ(in(kMsr), 0xf0);
  out(kMcr, 0x00);
  EXPECT_EQ(in(kMsr), 0xb0);
}

TEST_F(UartTest, LoopbackBytesQueueBehindTypedOnesAndLeaveLoopbackBehind) {
  const uint8_t typed[] = {'t'};
  m_uart.enqueue_input(typed);
  out(kMcr, kMcrLoop);
  out(0, 'l');
  EXPECT_EQ(in(kRbr), 't');
  EXPECT_EQ(in(kRbr), 'l');
  out(kMcr, 0);
  out(0, 'o');
  EXPECT_EQ(m_output, "o");
  EXPECT_EQ(in(kLsr)&kLsrDr, 0);
}

TEST_F(UartTest, ReceiveInterruptStaysUpUntilTheLastByteIsRead) {
  out(kMcr, kMcrOut2);
  out(kIer, 0x01);
  EXPECT_TRUE(m_irq_levels.empty()) << "nothing received yet";
  const uint8_t typed[] = {'1', '2', '3'};
  EXPECT_EQ(m_uart.enqueue_input(typed), 3u);
  EXPECT_EQ(m_irq_levels, std::vector<bool>{true});
  EXPECT_EQ(in(kRbr), '1');
  EXPECT_EQ(in(kRbr), '2');
  EXPECT_EQ(m_irq_levels, std::vector<bool>{true}) << "two bytes read, one left";
  EXPECT_EQ(in(kRbr), '3');
  EXPECT_EQ(m_irq_levels, (std::vector<bool>{true, false}));
}

TEST_F(UartTest, TheLineChangesOnlyOnTransitions) {
  out(kMcr, kMcrOut2);
  out(kIer, 0x01);
  const uint8_t typed[] = {'a'};
  m_uart.enqueue_input(typed);
  m_uart.enqueue_input(typed);
  in(kLsr);
  in(kIir);
  out(kScr, 1);
  EXPECT_EQ(m_irq_levels, std::vector<bool>{true});
}

TEST_F(UartTest, DisablingTheInterruptOrOut2LowersTheLine) {
  out(kMcr, kMcrOut2);
  out(kIer, 0x01);
  const uint8_t typed[] = {'a'};
  m_uart.enqueue_input(typed);
  ASSERT_EQ(m_irq_levels, std::vector<bool>{true});
  out(kIer, 0x00);
  EXPECT_EQ(m_irq_levels, (std::vector<bool>{true, false}));
  EXPECT_EQ(in(kIir)&0x0f, 0x01);
  out(kIer, 0x01);
  EXPECT_EQ(m_irq_levels.back(), true);
  out(kMcr, 0x00);
  EXPECT_EQ(m_irq_levels, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(in(kIir)&0x0f, 0x04) << "still pending in IIR; only the line is gated";
}

TEST_F(UartTest, AnAcknowledgedTransmitInterruptStaysQuietUntilTheNextByte) {
  out(kMcr, kMcrOut2);
  out(kIer, 0x02);
  EXPECT_EQ(in(kIir)&0x0f, 0x02);
  EXPECT_EQ(in(kIir)&0x0f, 0x01) << "the first IIR read acknowledged it";
  EXPECT_EQ(m_irq_levels, (std::vector<bool>{true, false}));
  out(kIer, 0x02);  // rewriting the same enable does not raise it again
  EXPECT_EQ(in(kIir)&0x0f, 0x01);
  out(0, 'x');
  EXPECT_EQ(m_output, "x");
  EXPECT_EQ(m_irq_levels, (std::vector<bool>{true, false, true}));
}

TEST_F(UartTest, TransmitInterruptWaitsBehindReceivedData) {
  out(kMcr, kMcrOut2);
  const uint8_t typed[] = {'r'};
  m_uart.enqueue_input(typed);
  out(kIer, 0x03);
  EXPECT_EQ(in(kIir)&0x0f, 0x04) << "received data outranks THR empty";
  EXPECT_EQ(in(kIir)&0x0f, 0x04) << "and reading IIR does not acknowledge it";
  EXPECT_EQ(in(kRbr), 'r');
  EXPECT_EQ(in(kIir)&0x0f, 0x02) << "THR empty was not lost behind it";
  EXPECT_EQ(in(kIir)&0x0f, 0x01);
  EXPECT_FALSE(m_irq_levels.back());
}

TEST_F(UartTest, FifoBitsInIirFollowFcr) {
  out(kFcr, 0xc1);
  EXPECT_EQ(in(kIir), 0xc1);
  out(kFcr, 0x00);
  EXPECT_EQ(in(kIir), 0x01);
}

TEST_F(UartTest, WideAccessesTouchConsecutiveRegisters) {
  out(kScr, 0x77);
  out(kMcr, 0x03);
  uint8_t pair[2] = {};
  m_uart.read(kMcr, pair);
  EXPECT_EQ(pair[0], 0x03);
  EXPECT_EQ(pair[1], kLsrThre | kLsrTemt);
  m_uart.read(kScr, pair);
  EXPECT_EQ(pair[0], 0x77);
  EXPECT_EQ(pair[1], 0xff) << "beyond the eight registers";
  out(kLcr, 0x80);
  const uint8_t divisor[2] = {0x01, 0x02};
  m_uart.write(0, divisor);
  EXPECT_EQ(in(0), 0x01);
  EXPECT_EQ(in(1), 0x02);
  EXPECT_TRUE(m_output.empty());
}

TEST_F(UartTest, OffsetsBeyondTheRegistersReadAllOnesAndIgnoreWrites) {
  EXPECT_EQ(in(8), 0xff);
  out(8, 'z');
  EXPECT_TRUE(m_output.empty());
  EXPECT_EQ(in(kScr), 0x00);
}

TEST_F(UartTest, InputFillsUpToCapacityAcrossCalls) {
  std::vector<uint8_t> almost(Uart8250::kInputCapacity - 2, 'a');
  EXPECT_EQ(m_uart.enqueue_input(almost), almost.size());
  const uint8_t more[] = {'b', 'c', 'd', 'e'};
  EXPECT_EQ(m_uart.enqueue_input(more), 2u);
  EXPECT_EQ(m_uart.enqueue_input(more), 0u);
  out(kMcr, kMcrLoop);
  out(0, 'L');  // no room: the looped-back byte is dropped
  std::string tail;
  for (size_t i = 0; i < almost.size(); ++i) in(kRbr);
  while (in(kLsr)&kLsrDr) tail += static_cast<char>(in(kRbr));
  EXPECT_EQ(tail, "bc");
}

TEST_F(UartTest, ClearingTheReceiveFifoDropsPendingInterrupt) {
  out(kMcr, kMcrOut2);
  out(kIer, 0x01);
  const uint8_t typed[] = {'a', 'b'};
  m_uart.enqueue_input(typed);
  ASSERT_TRUE(m_irq_levels.back());
  out(kFcr, 0x03);
  EXPECT_FALSE(m_irq_levels.back());
  EXPECT_EQ(in(kRbr), 0);
}

// Registers and typed-ahead input go into a snapshot (through its JSON text, as in the
// file) and come back in a freshly built UART, which then behaves as the first one did.
TEST_F(UartTest, SnapshotRestoresRegistersAndPendingInput) {
  out(kLcr, 0x80);
  out(0, 0x03);  // divisor 3 (38400 baud)
  out(1, 0x00);
  out(kLcr, 0x1b);  // 8E1
  out(kFcr, 0x01);
  out(kMcr, kMcrOut2 | 0x03);
  out(kIer, 0x01);
  out(kScr, 0x5a);
  const uint8_t typed[] = {'h', 'i', '!'};
  m_uart.enqueue_input(typed);
  ASSERT_EQ(in(kRbr), 'h');
  DeviceState saved = DeviceState::parse(m_uart.save_state().dump());

  std::string output;
  std::vector<bool> levels;
  Uart8250 restored(
      [&](std::span<const uint8_t> bytes) { output.append(bytes.begin(), bytes.end()); },
      [&](bool level) { levels.push_back(level); });
  auto result = restored.restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(restored.save_state(), saved);
  auto rin = [&](uint8_t reg) {
    uint8_t value = 0;
    restored.read(reg, std::span(&value, 1));
    return value;
  };
  EXPECT_EQ(rin(kLcr), 0x1b);
  EXPECT_EQ(rin(kIer), 0x01);
  EXPECT_EQ(rin(kMcr), kMcrOut2 | 0x03);
  EXPECT_EQ(rin(kScr), 0x5a);
  EXPECT_EQ(rin(kIir), 0xc4) << "FIFOs on, received data pending";
  EXPECT_EQ(rin(kLsr) & kLsrDr, kLsrDr);
  EXPECT_EQ(rin(kRbr), 'i');
  EXPECT_EQ(rin(kRbr), '!');
  EXPECT_EQ(rin(kLsr) & kLsrDr, 0);
  // The line was up in the snapshot; the restored UART lowers it once the input is read.
  ASSERT_FALSE(levels.empty());
  EXPECT_FALSE(levels.back());
  const uint8_t dlab = 0x80 | 0x1b;
  restored.write(kLcr, std::span(&dlab, 1));
  EXPECT_EQ(rin(0), 0x03);
  EXPECT_EQ(rin(1), 0x00);
  EXPECT_TRUE(output.empty());
}

TEST_F(UartTest, ADamagedSnapshotIsRefusedNamingTheField) {
  DeviceState saved = DeviceState::parse(m_uart.save_state().dump());
  Uart8250 restored([](std::span<const uint8_t>) {}, [](bool) {});
  DeviceState wrong = saved;
  wrong["lcr"] = 300;
  auto result = restored.restore_state(wrong);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("'lcr'"), std::string::npos);
  wrong = saved;
  wrong.erase("scratch");
  result = restored.restore_state(wrong);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("'scratch'"), std::string::npos);
  wrong = saved;
  wrong["input"] = std::string(2 * (Uart8250::kInputCapacity + 1), 'a');
  EXPECT_FALSE(restored.restore_state(wrong)) << "more input than the UART holds";
}

}  // namespace
}  // namespace haven::devices::legacy
