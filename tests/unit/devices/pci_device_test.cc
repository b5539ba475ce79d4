#include "devices/pci/pci_device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace haven::devices::pci {
namespace {

// A device with two 64-bit BARs that records what reaches them.
class RecordingDevice final : public PciDevice {
 public:
  static constexpr uint64_t kBar0Size = 0x8000;
  static constexpr uint64_t kBar2Size = 0x1000;

  RecordingDevice()
      : PciDevice({.vendor = 0x1af4,
                   .device = 0x1042,
                   .revision = 1,
                   .class_code = 0x010000,
                   .subsystem_vendor = 0x1af4,
                   .subsystem = 0x0002}) {
    add_memory_bar64(0, kBar0Size);
    add_memory_bar64(2, kBar2Size);
  }

  std::string_view name() const override { return "recording"; }
  using PciDevice::add_capability;

  struct Access {
    int bar;
    uint64_t offset;
    size_t size;
    bool write;
  };
  std::vector<Access> accesses;
  int bars_changed_calls = 0;

 protected:
  void bar_read(int bar, uint64_t offset, std::span<uint8_t> data) override {
    accesses.push_back({bar, offset, data.size(), false});
    std::memset(data.data(), 0xab, data.size());
  }
  void bar_write(int bar, uint64_t offset, std::span<const uint8_t> data) override {
    accesses.push_back({bar, offset, data.size(), true});
  }
  void bars_changed() override { ++bars_changed_calls; }
};

class PciDeviceTest : public ::testing::Test {
 protected:
  uint32_t read32(uint32_t offset) {
    uint8_t bytes[4];
    m_device.read_config(offset, bytes);
    uint32_t value;
    std::memcpy(&value, bytes, 4);
    return value;
  }
  uint16_t read16(uint32_t offset) {
    uint8_t bytes[2];
    m_device.read_config(offset, bytes);
    return static_cast<uint16_t>(bytes[0] | bytes[1] << 8);
  }
  uint8_t read8(uint32_t offset) {
    uint8_t byte;
    m_device.read_config(offset, std::span(&byte, 1));
    return byte;
  }
  void write32(uint32_t offset, uint32_t value) {
    uint8_t bytes[4];
    std::memcpy(bytes, &value, 4);
    m_device.write_config(offset, bytes);
  }
  void write16(uint32_t offset, uint16_t value) {
    uint8_t bytes[2] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)};
    m_device.write_config(offset, bytes);
  }
  // Programs BAR `index` (64-bit) the way firmware does and enables memory decoding.
  void program_bar(int index, uint64_t address) {
    write32(kBar0 + 4 * index, static_cast<uint32_t>(address));
    write32(kBar0 + 4 * index + 4, static_cast<uint32_t>(address >> 32));
  }
  bool mmio_read(uint64_t address, size_t size) {
    std::vector<uint8_t> data(size);
    return m_device.mmio_read(address, data);
  }

  RecordingDevice m_device;
};

TEST_F(PciDeviceTest, IdentityIsInTheHeaderAndReadOnly) {
  EXPECT_EQ(read32(0), 0x10421af4u);
  EXPECT_EQ(read32(8), 0x01000001u) << "class 01, subclass 00, interface 00, revision 1";
  EXPECT_EQ(read32(0x2c), 0x00021af4u);
  write32(0, 0);
  write32(8, 0);
  EXPECT_EQ(read32(0), 0x10421af4u);
  EXPECT_EQ(read32(8), 0x01000001u);
}

TEST_F(PciDeviceTest, SizingA64BitBarReadsBackItsSizeMask) {
  // The BAR reads as a 64-bit, non-prefetchable memory BAR.
  EXPECT_EQ(read32(kBar0) & 0xf, 0x4u);
  write32(kBar0, 0xffffffff);
  write32(kBar0 + 4, 0xffffffff);
  uint64_t mask = uint64_t{read32(kBar0 + 4)} << 32 | (read32(kBar0) & ~0xfu);
  EXPECT_EQ(~mask + 1, RecordingDevice::kBar0Size);
  EXPECT_EQ(read32(kBar0) & 0xf, 0x4u) << "type bits survive the all-ones write";

  write32(kBar0 + 8, 0xffffffff);
  write32(kBar0 + 12, 0xffffffff);
  mask = uint64_t{read32(kBar0 + 12)} << 32 | (read32(kBar0 + 8) & ~0xfu);
  EXPECT_EQ(~mask + 1, RecordingDevice::kBar2Size);
}

TEST_F(PciDeviceTest, UnusedBarsReadZeroAndIgnoreWrites) {
  for (uint32_t bar : {4u, 5u}) {
    write32(kBar0 + 4 * bar, 0xffffffff);
    EXPECT_EQ(read32(kBar0 + 4 * bar), 0u) << "BAR " << bar;
  }
  EXPECT_EQ(m_device.bar_size(4), 0u);
}

TEST_F(PciDeviceTest, AddressesAreAlignedToTheBarSize) {
  program_bar(0, 0xc0001234);
  EXPECT_EQ(read32(kBar0) & ~0xfu, 0xc0000000u) << "low bits below the size are hardwired";
}

TEST_F(PciDeviceTest, NothingDecodesUntilMemorySpaceIsEnabled) {
  program_bar(0, 0xc0000000);
  EXPECT_FALSE(m_device.bar_address(0));
  EXPECT_FALSE(mmio_read(0xc0000000, 4));

  write16(kCommand, kCommandMemorySpace);
  ASSERT_EQ(m_device.bar_address(0), 0xc0000000u);
  EXPECT_TRUE(mmio_read(0xc0000010, 4));
  ASSERT_EQ(m_device.accesses.size(), 1u);
  EXPECT_EQ(m_device.accesses[0].bar, 0);
  EXPECT_EQ(m_device.accesses[0].offset, 0x10u);

  write16(kCommand, 0);
  EXPECT_FALSE(m_device.bar_address(0));
  EXPECT_FALSE(mmio_read(0xc0000010, 4));
  EXPECT_EQ(m_device.accesses.size(), 1u);
}

TEST_F(PciDeviceTest, ABarBeingSizedDecodesNothing) {
  program_bar(0, 0xc0000000);
  write16(kCommand, kCommandMemorySpace);
  ASSERT_TRUE(m_device.bar_address(0));
  // Linux sizes BARs with decoding off, but a guest may not; all ones must not decode the top
  // of the address space.
  write32(kBar0, 0xffffffff);
  write32(kBar0 + 4, 0xffffffff);
  EXPECT_FALSE(m_device.bar_address(0));
  EXPECT_FALSE(mmio_read(0xffffffffffff8000, 4));
}

TEST_F(PciDeviceTest, AccessesAreDispatchedToTheBarThatDecodesThem) {
  program_bar(0, 0xc0000000);
  program_bar(2, 0x1'0000'0000);
  write16(kCommand, kCommandMemorySpace);
  EXPECT_EQ(m_device.bar_address(2), 0x1'0000'0000u);

  uint8_t value[2] = {1, 2};
  EXPECT_TRUE(m_device.mmio_write(0x1'0000'0ffe, value));
  EXPECT_TRUE(mmio_read(0xc0007ffc, 4));
  ASSERT_EQ(m_device.accesses.size(), 2u);
  EXPECT_EQ(m_device.accesses[0].bar, 2);
  EXPECT_EQ(m_device.accesses[0].offset, 0xffeu);
  EXPECT_TRUE(m_device.accesses[0].write);
  EXPECT_EQ(m_device.accesses[1].bar, 0);
  EXPECT_EQ(m_device.accesses[1].offset, 0x7ffcu);

  EXPECT_FALSE(mmio_read(0xc0008000, 4)) << "just past BAR 0";
  EXPECT_FALSE(mmio_read(0xbffffffc, 4)) << "just before BAR 0";
  EXPECT_FALSE(mmio_read(0xc0007ffe, 4)) << "straddles the end of BAR 0";
  EXPECT_EQ(m_device.accesses.size(), 2u);
}

TEST_F(PciDeviceTest, MovingABarMovesItsDecodingAndTellsTheDevice) {
  program_bar(0, 0xc0000000);
  write16(kCommand, kCommandMemorySpace);
  int before = m_device.bars_changed_calls;
  program_bar(0, 0xd0000000);
  EXPECT_GT(m_device.bars_changed_calls, before);
  EXPECT_FALSE(mmio_read(0xc0000000, 4));
  EXPECT_TRUE(mmio_read(0xd0000000, 4));

  // Rewriting the same value changes nothing.
  before = m_device.bars_changed_calls;
  program_bar(0, 0xd0000000);
  EXPECT_EQ(m_device.bars_changed_calls, before);
}

TEST_F(PciDeviceTest, PlaceBarIsWhatTheGuestFindsAtBoot) {
  m_device.place_bar(0, 0xe0000000);
  EXPECT_EQ(read32(kBar0), 0xe0000004u);
  EXPECT_EQ(read32(kBar0 + 4), 0u);
  write16(kCommand, kCommandMemorySpace);
  EXPECT_EQ(m_device.bar_address(0), 0xe0000000u);
}

TEST_F(PciDeviceTest, InterruptDisableIsVisibleToTheDevice) {
  EXPECT_FALSE(m_device.intx_disabled());
  write16(kCommand, kCommandInterruptDisable);
  EXPECT_TRUE(m_device.intx_disabled());
  write16(kCommand, 0);
  EXPECT_FALSE(m_device.intx_disabled());
}

TEST_F(PciDeviceTest, CapabilitiesFormAChainFromThePointer) {
  EXPECT_EQ(read16(kStatus) & kStatusCapabilitiesList, 0) << "no list yet";
  uint8_t first = m_device.add_capability(kCapabilityVendor, 16);
  uint8_t second = m_device.add_capability(kCapabilityMsix, 12);
  uint8_t third = m_device.add_capability(kCapabilityVendor, 5);
  uint8_t fourth = m_device.add_capability(kCapabilityVendor, 4);
  EXPECT_NE(read16(kStatus) & kStatusCapabilitiesList, 0);

  std::vector<std::pair<uint8_t, uint8_t>> chain;  // offset, id
  for (uint8_t at = read8(kCapabilitiesPointer); at != 0 && chain.size() < 48; at = read8(at + 1u))
    chain.emplace_back(at, read8(at));
  ASSERT_EQ(chain.size(), 4u);
  EXPECT_EQ(chain[0], std::make_pair(first, kCapabilityVendor));
  EXPECT_EQ(chain[1], std::make_pair(second, kCapabilityMsix));
  EXPECT_EQ(chain[2], std::make_pair(third, kCapabilityVendor));
  EXPECT_EQ(chain[3], std::make_pair(fourth, kCapabilityVendor));
  for (auto [offset, id] : chain) EXPECT_EQ(offset % 4, 0) << "dword aligned";
  EXPECT_GE(first, 0x40) << "after the standard header";
  EXPECT_GE(third, second + 12);
  EXPECT_GE(fourth, third + 5);

  // The guest cannot rewire the chain.
  write32(first, 0);
  EXPECT_EQ(read8(first), kCapabilityVendor);
  EXPECT_EQ(read8(first + 1u), second);
}

}  // namespace
}  // namespace haven::devices::pci
