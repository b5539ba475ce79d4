#include "devices/pci/msix.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace haven::devices::pci {
namespace {

constexpr uint8_t kOffset = 0x40;
constexpr uint16_t kVectors = 70;  // more than one PBA qword

// Records routes and triggers (the test owns the log; Msix owns the recorder).
struct Log {
  std::vector<std::pair<uint16_t, std::optional<MsiMessage>>> routes;
  std::vector<uint16_t> triggers;
  bool fail_routes = false;
};

class Recorder final : public MsiVectors {
 public:
  explicit Recorder(Log& log) : m_log(log) {}
  Result<void> route(uint16_t vector, std::optional<MsiMessage> message) override {
    if (m_log.fail_routes) return make_error("no GSI left");
    m_log.routes.emplace_back(vector, message);
    return {};
  }
  void trigger(uint16_t vector) override { m_log.triggers.push_back(vector); }

 private:
  Log& m_log;
};

class MsixTest : public ::testing::Test {
 protected:
  MsixTest() { m_msix.install(m_config, kOffset, 0, 0x4000, 0x6000); }

  void set_control(bool enable, bool function_mask) {
    uint16_t control = m_config.u16(kOffset + 2);
    control = static_cast<uint16_t>((control & 0x3fff) | (enable ? 0x8000 : 0) |
                                    (function_mask ? 0x4000 : 0));
    uint8_t bytes[2] = {static_cast<uint8_t>(control), static_cast<uint8_t>(control >> 8)};
    m_config.write(kOffset + 2, bytes);
    m_msix.control_written(m_config);
  }
  void write_entry_dword(uint16_t vector, uint32_t field, uint32_t value) {
    uint8_t bytes[4];
    std::memcpy(bytes, &value, 4);
    m_msix.table_write(vector * Msix::kEntrySize + field * 4, bytes);
  }
  uint32_t read_entry_dword(uint16_t vector, uint32_t field) {
    uint8_t bytes[4];
    m_msix.table_read(vector * Msix::kEntrySize + field * 4, bytes);
    uint32_t value;
    std::memcpy(&value, bytes, 4);
    return value;
  }
  void program(uint16_t vector, uint64_t address, uint32_t data) {
    write_entry_dword(vector, 0, static_cast<uint32_t>(address));
    write_entry_dword(vector, 1, static_cast<uint32_t>(address >> 32));
    write_entry_dword(vector, 2, data);
  }
  void unmask(uint16_t vector) { write_entry_dword(vector, 3, 0); }
  void mask(uint16_t vector) { write_entry_dword(vector, 3, 1); }
  uint64_t pba_qword(uint32_t index) {
    uint8_t bytes[8];
    m_msix.pba_read(index * 8, bytes);
    uint64_t value;
    std::memcpy(&value, bytes, 8);
    return value;
  }

  Log m_log;
  ConfigSpace m_config;
  Msix m_msix{kVectors, std::make_unique<Recorder>(m_log)};
};

TEST_F(MsixTest, CapabilityDescribesTableAndPba) {
  EXPECT_EQ(m_config.u16(kOffset + 2) & 0x7ff, kVectors - 1) << "table size is N - 1";
  EXPECT_EQ(m_config.u32(kOffset + 4), 0x4000u) << "table at 0x4000 in BAR 0";
  EXPECT_EQ(m_config.u32(kOffset + 8), 0x6000u);
  EXPECT_EQ(m_msix.table_size(), kVectors * 16u);
  EXPECT_EQ(m_msix.pba_size(), 16u);
  // Only enable and function mask are writable in message control.
  uint8_t all_ones[2] = {0xff, 0xff};
  m_config.write(kOffset + 2, all_ones);
  EXPECT_EQ(m_config.u16(kOffset + 2), 0xc000 | (kVectors - 1));
}

TEST_F(MsixTest, VectorsStartMaskedAndReadBackWhatWasWritten) {
  EXPECT_EQ(read_entry_dword(5, 3), 1u) << "masked after reset";
  program(5, 0xfee01000, 0x4041);
  EXPECT_EQ(read_entry_dword(5, 0), 0xfee01000u);
  EXPECT_EQ(read_entry_dword(5, 1), 0u);
  EXPECT_EQ(read_entry_dword(5, 2), 0x4041u);
  // A 64-bit write of address low + high, as Linux may do.
  uint64_t address = 0x0000000afee02000;
  uint8_t bytes[8];
  std::memcpy(bytes, &address, 8);
  m_msix.table_write(5 * Msix::kEntrySize, bytes);
  EXPECT_EQ(read_entry_dword(5, 0), 0xfee02000u);
  EXPECT_EQ(read_entry_dword(5, 1), 0xau);
  // Vector control: only the mask bit exists.
  write_entry_dword(5, 3, 0xfffffffe);
  EXPECT_EQ(read_entry_dword(5, 3), 0u);
}

TEST_F(MsixTest, SignalsAreRefusedWhileMsixIsOff) {
  program(0, 0xfee00000, 0x30);
  unmask(0);
  EXPECT_FALSE(m_msix.enabled());
  EXPECT_FALSE(m_msix.signal(0)) << "the device must use INTx";
  EXPECT_TRUE(m_log.triggers.empty());
  EXPECT_TRUE(m_log.routes.empty()) << "nothing is routed before MSI-X is enabled";
}

TEST_F(MsixTest, AnEnabledUnmaskedVectorIsRoutedThenTriggered) {
  program(3, 0xfee00000, 0x31);
  set_control(true, false);
  EXPECT_TRUE(m_log.routes.empty()) << "vector 3 is still masked";
  unmask(3);
  ASSERT_EQ(m_log.routes.size(), 1u);
  EXPECT_EQ(m_log.routes[0].first, 3);
  EXPECT_EQ(m_log.routes[0].second, (MsiMessage{0xfee00000, 0x31}));
  EXPECT_TRUE(m_msix.signal(3));
  EXPECT_EQ(m_log.triggers, std::vector<uint16_t>{3});

  // Reprogramming the message reroutes it once.
  program(3, 0xfee01000, 0x32);
  EXPECT_EQ(m_log.routes.back().second, (MsiMessage{0xfee01000, 0x32}));
  size_t routes = m_log.routes.size();
  program(3, 0xfee01000, 0x32);
  EXPECT_EQ(m_log.routes.size(), routes) << "same message, no new route";
}

TEST_F(MsixTest, AMaskedVectorIsPendingAndUnmaskingDeliversItOnce) {
  program(66, 0xfee00000, 0x40);
  set_control(true, false);
  EXPECT_TRUE(m_msix.signal(66));
  EXPECT_TRUE(m_msix.signal(66));
  EXPECT_TRUE(m_log.triggers.empty());
  EXPECT_EQ(pba_qword(0), 0u);
  EXPECT_EQ(pba_qword(1), uint64_t{1} << 2) << "vector 66 is bit 2 of the second qword";

  unmask(66);
  EXPECT_EQ(m_log.triggers, std::vector<uint16_t>{66}) << "two signals while masked, one message";
  EXPECT_EQ(pba_qword(1), 0u);
}

TEST_F(MsixTest, TheFunctionMaskHoldsEveryVector) {
  for (uint16_t vector : {0, 1}) {
    program(vector, 0xfee00000, 0x50u + vector);
    unmask(vector);
  }
  set_control(true, true);
  EXPECT_TRUE(m_msix.signal(0));
  EXPECT_TRUE(m_msix.signal(1));
  EXPECT_TRUE(m_log.triggers.empty());
  EXPECT_EQ(pba_qword(0), 0b11u);
  set_control(true, false);
  EXPECT_EQ(m_log.triggers, (std::vector<uint16_t>{0, 1}));
  EXPECT_EQ(pba_qword(0), 0u);
}

TEST_F(MsixTest, MaskingAgainStopsDelivery) {
  program(2, 0xfee00000, 0x60);
  unmask(2);
  set_control(true, false);
  EXPECT_TRUE(m_msix.signal(2));
  mask(2);
  EXPECT_TRUE(m_msix.signal(2));
  EXPECT_EQ(m_log.triggers.size(), 1u);
  EXPECT_EQ(pba_qword(0), 1u << 2);
}

TEST_F(MsixTest, OutOfRangeVectorsAndOffsetsAreHarmless) {
  set_control(true, false);
  EXPECT_FALSE(m_msix.signal(kVectors));
  EXPECT_FALSE(m_msix.signal(0xffff));
  // Reads past the table return zeros; writes past it are dropped.
  write_entry_dword(kVectors, 2, 0x1234);
  EXPECT_EQ(read_entry_dword(kVectors, 2), 0u);
  uint8_t bytes[4];
  m_msix.table_read(~uint64_t{0} - 2, bytes);
  m_msix.table_write(~uint64_t{0} - 2, bytes);
  m_msix.pba_read(1 << 20, bytes);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_TRUE(m_log.triggers.empty());
}

TEST_F(MsixTest, AFailedRouteLeavesTheSignalPending) {
  program(1, 0xfee00000, 0x70);
  set_control(true, false);
  m_log.fail_routes = true;
  unmask(1);
  EXPECT_TRUE(m_msix.signal(1));
  EXPECT_TRUE(m_log.triggers.empty()) << "never trigger a vector that is not routed";
  EXPECT_EQ(pba_qword(0), 1u << 1);
  // The next change that routes it delivers the pending signal.
  m_log.fail_routes = false;
  program(1, 0xfee00000, 0x71);
  EXPECT_EQ(m_log.triggers, std::vector<uint16_t>{1});
}

// Entries, masks, pending bits and the enable bits come back in a fresh Msix, which routes
// the deliverable vectors again and delivers what was pending once unmasked.
TEST_F(MsixTest, SnapshotRestoresEntriesMasksAndPendingBits) {
  program(3, 0xfee00000, 0x31);
  unmask(3);
  program(66, 0x00000001fee01000, 0x42);  // masked
  set_control(true, false);
  EXPECT_TRUE(m_msix.signal(66));
  ASSERT_EQ(pba_qword(1), uint64_t{1} << 2);
  DeviceState saved = DeviceState::parse(m_msix.save_state().dump());

  Log log;
  ConfigSpace config;
  Msix restored(kVectors, std::make_unique<Recorder>(log));
  restored.install(config, kOffset, 0, 0x4000, 0x6000);
  auto result = restored.restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE(restored.enabled());
  EXPECT_EQ(restored.save_state(), saved);
  ASSERT_EQ(log.routes.size(), 1u) << "only vector 3 is deliverable";
  EXPECT_EQ(log.routes[0].first, 3);
  EXPECT_EQ(log.routes[0].second, (MsiMessage{0xfee00000, 0x31}));
  EXPECT_TRUE(log.triggers.empty());

  auto dword = [&](uint16_t vector, uint32_t field) {
    uint8_t bytes[4];
    restored.table_read(vector * Msix::kEntrySize + field * 4, bytes);
    uint32_t value;
    std::memcpy(&value, bytes, 4);
    return value;
  };
  EXPECT_EQ(dword(66, 0), 0xfee01000u);
  EXPECT_EQ(dword(66, 1), 0x1u);
  EXPECT_EQ(dword(66, 2), 0x42u);
  EXPECT_EQ(dword(66, 3), 1u) << "still masked";
  EXPECT_EQ(dword(3, 3), 0u);
  EXPECT_EQ(dword(5, 3), 1u);
  uint8_t pba[8];
  restored.pba_read(8, pba);
  EXPECT_EQ(pba[0], 1u << 2) << "vector 66 still pending";

  EXPECT_TRUE(restored.signal(3));
  EXPECT_EQ(log.triggers, std::vector<uint16_t>{3});
  uint8_t unmasked[4] = {};
  restored.table_write(66 * Msix::kEntrySize + 12, unmasked);
  EXPECT_EQ(log.triggers, (std::vector<uint16_t>{3, 66})) << "the pending signal, once";
}

TEST_F(MsixTest, ASnapshotWithAnotherNumberOfEntriesIsRefused) {
  DeviceState saved = DeviceState::parse(m_msix.save_state().dump());
  Log log;
  Msix smaller(4, std::make_unique<Recorder>(log));
  auto result = smaller.restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("expected 4 entries"), std::string::npos)
      << result.error().message();
  saved["entries"][1]["data"] = -1;
  Msix same(kVectors, std::make_unique<Recorder>(log));
  result = same.restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("'data'"), std::string::npos);
}

}  // namespace
}  // namespace haven::devices::pci
