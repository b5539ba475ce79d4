#include "devices/pci/pci_root.h"

#include <gtest/gtest.h>

#include <cstring>
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
