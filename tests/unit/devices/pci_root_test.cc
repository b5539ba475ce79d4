#include "devices/pci/pci_root.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include "devices/pci/host_bridge.h"

namespace haven::devices::pci {
namespace {

class PciRootTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(m_root.add(0, std::make_shared<HostBridge>())); }

  void out32(uint64_t offset, uint32_t value) {
    uint8_t bytes[4];
    std::memcpy(bytes, &value, 4);
    m_root.write(offset, bytes);
  }
  uint32_t in32(uint64_t offset) {
    uint8_t bytes[4];
    m_root.read(offset, bytes);
    uint32_t value;
    std::memcpy(&value, bytes, 4);
    return value;
  }
  uint16_t in16(uint64_t offset) {
    uint8_t bytes[2];
    m_root.read(offset, bytes);
    return static_cast<uint16_t>(bytes[0] | bytes[1] << 8);
  }
  static uint32_t address(uint32_t bus, uint32_t device, uint32_t function, uint32_t reg) {
    return 0x80000000u | bus << 16 | device << 11 | function << 8 | reg;
  }

  std::vector<GuestRequest> m_requests;
  PciRoot m_root{[this](GuestRequest request) { m_requests.push_back(request); }};
};

TEST_F(PciRootTest, AddressRegisterReadsBackAsLinuxsType1ProbeExpects) {
  out32(0, 0x80000000);
  EXPECT_EQ(in32(0), 0x80000000u);
  out32(0, 0xffffffff);
  EXPECT_EQ(in32(0), 0x80fffffcu) << "reserved bits read as zero";
}

TEST_F(PciRootTest, HostBridgeIdentifiesItselfAt00_00_0) {
  out32(0, address(0, 0, 0, 0));
  EXPECT_EQ(in32(4), uint32_t{HostBridge::kDevice} << 16 | HostBridge::kVendor);
  out32(0, address(0, 0, 0, 8));
  EXPECT_EQ(in32(4) >> 8, 0x060000u) << "class: host bridge";
  // Sub-dword access through 0xCFE reads the upper half of the selected register.
  out32(0, address(0, 0, 0, 0));
  EXPECT_EQ(in16(6), HostBridge::kDevice);
}

TEST_F(PciRootTest, EmptySlotsOtherBusesAndDisabledAccessReadAllOnes) {
  out32(0, address(0, 5, 0, 0));
  EXPECT_EQ(in32(4), 0xffffffffu);
  out32(0, address(1, 0, 0, 0));
  EXPECT_EQ(in32(4), 0xffffffffu);
  out32(0, address(0, 0, 3, 0));
  EXPECT_EQ(in32(4), 0xffffffffu);
  out32(0, 0x00000000);  // enable bit clear
  EXPECT_EQ(in32(4), 0xffffffffu);
}

TEST_F(PciRootTest, ReadOnlyRegistersIgnoreWritesAndCommandKeepsItsBits) {
  out32(0, address(0, 0, 0, 0));
  out32(4, 0x12345678);
  EXPECT_EQ(in32(4), uint32_t{HostBridge::kDevice} << 16 | HostBridge::kVendor);
  out32(0, address(0, 0, 0, 4));
  out32(4, 0x0000ffff);
  EXPECT_EQ(in32(4) & 0xffff, 0x0407u);
  out32(0, address(0, 0, 0, 0x3c));
  out32(4, 0x0000000b);
  EXPECT_EQ(in32(4) & 0xff, 0x0bu) << "interrupt line is scratch for the OS";
}

TEST_F(PciRootTest, ResetControlRegisterResetsOnlyWithResetCpu) {
  uint8_t value = 0x02;
  m_root.write(1, std::span<const uint8_t>(&value, 1));
  EXPECT_TRUE(m_requests.empty());
  value = 0x06;
  m_root.write(1, std::span<const uint8_t>(&value, 1));
  EXPECT_EQ(m_requests, std::vector<GuestRequest>{GuestRequest::reset});
}

TEST_F(PciRootTest, SlotsAreCheckedWhenAdding) {
  EXPECT_FALSE(m_root.add(0, std::make_shared<HostBridge>())) << "slot taken";
  EXPECT_FALSE(m_root.add(32, std::make_shared<HostBridge>())) << "no such slot";
  EXPECT_TRUE(m_root.add(31, std::make_shared<HostBridge>()));
}

// A function with a little state of its own, to see the root carry it by slot.
class StatefulFunction final : public PciFunction {
 public:
  std::string_view name() const override { return "stateful"; }
  void read_config(uint32_t, std::span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), value);
  }
  void write_config(uint32_t, std::span<const uint8_t> data) override { value = data[0]; }
  DeviceState save_state() override { return {{"value", value}}; }
  Result<void> restore_state(const DeviceState& state) override {
    value = TRY(state_field<uint8_t>(state, "value"));
    return {};
  }
  uint8_t value = 0;
};

TEST_F(PciRootTest, SnapshotRestoresTheAddressRegisterAndEachFunctionBySlot) {
  auto function = std::make_shared<StatefulFunction>();
  function->value = 0x42;
  ASSERT_TRUE(m_root.add(5, function));
  out32(0, address(0, 0, 0, 8));
  uint8_t reset_control = 0x02;
  m_root.write(1, std::span<const uint8_t>(&reset_control, 1));
  DeviceState saved = DeviceState::parse(m_root.save_state().dump());
  EXPECT_FALSE(saved["functions"].contains("0")) << "the host bridge has no state";

  PciRoot restored([](GuestRequest) {});
  ASSERT_TRUE(restored.add(0, std::make_shared<HostBridge>()));
  auto fresh = std::make_shared<StatefulFunction>();
  ASSERT_TRUE(restored.add(5, fresh));
  auto result = restored.restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(fresh->value, 0x42);
  uint8_t bytes[4];
  restored.read(0, bytes);
  uint32_t address_register;
  std::memcpy(&address_register, bytes, 4);
  EXPECT_EQ(address_register, address(0, 0, 0, 8));
  restored.read(4, bytes);
  EXPECT_EQ(bytes[3], 0x06) << "the data port reads the selected host bridge register";
  restored.read(1, std::span(bytes, 1));
  EXPECT_EQ(bytes[0], 0x02);
}

TEST_F(PciRootTest, ASnapshotFunctionThisRootLacksIsAnError) {
  ASSERT_TRUE(m_root.add(7, std::make_shared<StatefulFunction>()));
  DeviceState saved = DeviceState::parse(m_root.save_state().dump());
  PciRoot restored([](GuestRequest) {});
  ASSERT_TRUE(restored.add(0, std::make_shared<HostBridge>()));
  auto result = restored.restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("00:07.0"), std::string::npos)
      << result.error().message();
}

TEST_F(PciRootTest, AFunctionsRestoreErrorNamesItsSlot) {
  ASSERT_TRUE(m_root.add(9, std::make_shared<StatefulFunction>()));
  DeviceState saved = DeviceState::parse(m_root.save_state().dump());
  saved["functions"]["9"]["value"] = "x";
  PciRoot restored([](GuestRequest) {});
  ASSERT_TRUE(restored.add(9, std::make_shared<StatefulFunction>()));
  auto result = restored.restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("PCI 00:09.0 (stateful)"), std::string::npos)
      << result.error().message();
  saved.erase("functions");
  EXPECT_FALSE(restored.restore_state(saved));
}

// A function that answers config reads from a real config space with its own IDs.
class IdentifiedFunction final : public PciFunction {
 public:
  IdentifiedFunction(uint16_t vendor, uint16_t device) {
    config.set_u16(kVendorId, vendor);
    config.set_u16(kDeviceId, device);
  }
  std::string_view name() const override { return "identified"; }
  void read_config(uint32_t offset, std::span<uint8_t> data) override { config.read(offset, data); }
  void write_config(uint32_t offset, std::span<const uint8_t> data) override {
    config.write(offset, data);
  }
  ConfigSpace config;
};

TEST_F(PciRootTest, ConfigAccessesReachFunctionsBesidesZero) {
  auto isa = std::make_shared<IdentifiedFunction>(0x8086, 0x7000);
  auto pm = std::make_shared<IdentifiedFunction>(0x8086, 0x7113);
  ASSERT_TRUE(m_root.add(1, 0, isa));
  ASSERT_TRUE(m_root.add(1, 3, pm));
  out32(0, address(0, 1, 3, 0));
  EXPECT_EQ(in32(4), 0x71138086u);
  out32(0, address(0, 1, 0, 0));
  EXPECT_EQ(in32(4), 0x70008086u);
  for (uint32_t fn : {1u, 2u, 4u, 7u}) {
    out32(0, address(0, 1, fn, 0));
    EXPECT_EQ(in32(4), 0xffffffffu) << "nothing at 00:01." << fn;
  }
  out32(0, address(0, 1, 3, 0x3c));
  out32(4, 0x0000000b);
  EXPECT_EQ(pm->config.u8(kInterruptLine), 0x0b) << "writes reach the selected function";
  EXPECT_EQ(isa->config.u8(kInterruptLine), 0x00) << "and only it";
}

TEST_F(PciRootTest, AFunctionAloneAtItsSlotIsStillReachable) {
  // PciRoot leaves it to software to find function 0's multi-function bit; the root itself
  // decodes every function it holds.
  ASSERT_TRUE(m_root.add(4, 7, std::make_shared<IdentifiedFunction>(0x1234, 0x5678)));
  out32(0, address(0, 4, 7, 0));
  EXPECT_EQ(in32(4), 0x56781234u);
  out32(0, address(0, 4, 0, 0));
  EXPECT_EQ(in32(4), 0xffffffffu);
}

TEST_F(PciRootTest, FunctionNumbersAreCheckedWhenAdding) {
  auto eight = m_root.add(1, 8, std::make_shared<HostBridge>());
  ASSERT_FALSE(eight);
  EXPECT_EQ(eight.error().message(), "PCI function number 8 is not 0..7");
  EXPECT_FALSE(m_root.add(1, 0xffffffff, std::make_shared<HostBridge>()));
  ASSERT_TRUE(m_root.add(1, 3, std::make_shared<HostBridge>()));
  auto twice = m_root.add(1, 3, std::make_shared<HostBridge>());
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message(), "PCI slot 00:01.3 already holds pci-host-bridge");
  EXPECT_TRUE(m_root.add(1, 0, std::make_shared<HostBridge>())) << "function 0 is its own slot";
  EXPECT_TRUE(m_root.add(1, 7, std::make_shared<HostBridge>()));
}

// Snapshots always named function 0 by its device number alone ("5"); another function is
// "device.function", so older snapshots still restore.
TEST_F(PciRootTest, SnapshotKeysFunctionsBesidesZeroAsDeviceDotFunction) {
  auto first = std::make_shared<StatefulFunction>();
  auto third = std::make_shared<StatefulFunction>();
  first->value = 0x10;
  third->value = 0x13;
  ASSERT_TRUE(m_root.add(1, 0, first));
  ASSERT_TRUE(m_root.add(1, 3, third));
  DeviceState saved = DeviceState::parse(m_root.save_state().dump());
  EXPECT_EQ(saved["functions"]["1"]["value"], 0x10);
  EXPECT_EQ(saved["functions"]["1.3"]["value"], 0x13);

  PciRoot restored([](GuestRequest) {});
  auto fresh_first = std::make_shared<StatefulFunction>();
  auto fresh_third = std::make_shared<StatefulFunction>();
  ASSERT_TRUE(restored.add(1, 0, fresh_first));
  ASSERT_TRUE(restored.add(1, 3, fresh_third));
  auto result = restored.restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(fresh_first->value, 0x10);
  EXPECT_EQ(fresh_third->value, 0x13);
}

TEST_F(PciRootTest, ASnapshotFunctionBesidesZeroThisRootLacksIsAnError) {
  ASSERT_TRUE(m_root.add(1, 0, std::make_shared<StatefulFunction>()));
  ASSERT_TRUE(m_root.add(1, 3, std::make_shared<StatefulFunction>()));
  DeviceState saved = DeviceState::parse(m_root.save_state().dump());
  PciRoot restored([](GuestRequest) {});
  ASSERT_TRUE(restored.add(0, std::make_shared<HostBridge>()));
  ASSERT_TRUE(restored.add(1, 0, std::make_shared<StatefulFunction>()));
  auto result = restored.restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(),
            "the snapshot has a PCI function at 00:01.3 and this VM has none");
}

TEST_F(PciRootTest, AFunctionBesidesZerosRestoreErrorNamesIt) {
  ASSERT_TRUE(m_root.add(0x1a, 5, std::make_shared<StatefulFunction>()));
  DeviceState saved = DeviceState::parse(m_root.save_state().dump());
  ASSERT_TRUE(saved["functions"].contains("26.5")) << saved.dump();
  saved["functions"]["26.5"]["value"] = -1;
  PciRoot restored([](GuestRequest) {});
  ASSERT_TRUE(restored.add(0x1a, 5, std::make_shared<StatefulFunction>()));
  auto result = restored.restore_state(saved);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("PCI 00:1a.5 (stateful)"), std::string::npos)
      << result.error().message();
}

TEST(ConfigSpace, AccessesPastTheEndReadOnesAndAreIgnored) {
  ConfigSpace config;
  config.set_u16(kVendorId, 0xabcd);
  uint8_t bytes[4];
  config.read(254, bytes);
  EXPECT_EQ(bytes[2], 0xff);
  EXPECT_EQ(bytes[3], 0xff);
  const uint8_t junk[4] = {1, 2, 3, 4};
  config.write(0xfffffffe, junk);  // offset + size wraps 32 bits: nothing written, no crash
  EXPECT_EQ(config.u16(kVendorId), 0xabcd);
}

}  // namespace
}  // namespace haven::devices::pci
