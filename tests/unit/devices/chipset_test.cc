#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "devices/bus.h"
#include "devices/chipset/i440fx_host.h"
#include "devices/chipset/piix3_isa.h"
#include "devices/chipset/piix4_pm.h"
#include "devices/pci/pci_root.h"

namespace haven::devices::chipset {
namespace {

using pci::PciFunction;

uint32_t config_read(PciFunction& function, uint32_t offset, size_t size) {
  uint8_t bytes[4] = {};
  function.read_config(offset, std::span(bytes, size));
  uint32_t value = 0;
  for (size_t i = 0; i < size; ++i) value |= uint32_t{bytes[i]} << (8 * i);
  return value;
}
uint8_t config8(PciFunction& function, uint32_t offset) {
  return static_cast<uint8_t>(config_read(function, offset, 1));
}
uint16_t config16(PciFunction& function, uint32_t offset) {
  return static_cast<uint16_t>(config_read(function, offset, 2));
}
uint32_t config32(PciFunction& function, uint32_t offset) {
  return config_read(function, offset, 4);
}
void config_write(PciFunction& function, uint32_t offset, uint32_t value, size_t size) {
  uint8_t bytes[4];
  for (size_t i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  function.write_config(offset, std::span<const uint8_t>(bytes, size));
}

// Identity as SeaBIOS and OVMF check it: QEMU's "pc" machine (hw/pci-host/i440fx.c,
// hw/isa/piix.c, hw/acpi/piix4.c) with Red Hat's QEMU subsystem.
struct Identity {
  uint16_t vendor, device;
  uint8_t revision;
  uint32_t class_code;
  uint8_t header_type;
};
void expect_identity(PciFunction& function, const Identity& want) {
  EXPECT_EQ(config16(function, pci::kVendorId), want.vendor) << function.name();
  EXPECT_EQ(config16(function, pci::kDeviceId), want.device) << function.name();
  EXPECT_EQ(config8(function, pci::kRevisionId), want.revision) << function.name();
  EXPECT_EQ(config32(function, pci::kRevisionId) >> 8, want.class_code) << function.name();
  EXPECT_EQ(config8(function, pci::kHeaderType), want.header_type) << function.name();
  EXPECT_EQ(config16(function, pci::kSubsystemVendorId), 0x1af4) << function.name();
  EXPECT_EQ(config16(function, pci::kSubsystemId), 0x1100) << function.name();
}

TEST(I440fxHost, IdentifiesAsQemusHostBridge) {
  I440fxHost host;
  // OVMF programs its timer only on device 0x1237 (PlatformPei), SeaBIOS keys its QEMU paths on
  // the subsystem.
  expect_identity(host, {0x8086, 0x1237, 0x02, 0x060000, 0x00});
  EXPECT_EQ(host.name(), "i440fx-host");
}

TEST(I440fxHost, PamAndOtherChipsetRegistersKeepWhatFirmwareWrites) {
  I440fxHost host;
  // SeaBIOS's make_bios_writable/make_bios_readonly program PAM0-6 (0x59-0x5f).
  for (uint32_t pam = 0x59; pam <= 0x5f; ++pam) {
    config_write(host, pam, 0x33, 1);
    EXPECT_EQ(config8(host, pam), 0x33) << std::hex << pam;
    config_write(host, pam, 0x11, 1);
    EXPECT_EQ(config8(host, pam), 0x11) << std::hex << pam;
  }
  config_write(host, 0x58, 0xdeadbeef, 4);
  EXPECT_EQ(config32(host, 0x58), 0xdeadbeefu);
  EXPECT_EQ(config8(host, 0x72), 0x02) << "SMRAM control's reset value";
}

TEST(I440fxHost, TheHeaderStaysReadOnly) {
  I440fxHost host;
  config_write(host, pci::kVendorId, 0xffffffff, 4);
  config_write(host, pci::kSubsystemVendorId, 0xffffffff, 4);
  expect_identity(host, {0x8086, 0x1237, 0x02, 0x060000, 0x00});
}

TEST(Piix3Isa, IdentifiesAsAMultiFunctionIsaBridge) {
  Piix3Isa isa;
  // Header type bit 7: without it neither firmware looks for the PM function at 00:01.3.
  expect_identity(isa, {0x8086, 0x7000, 0x00, 0x060100, 0x80});
  config_write(isa, pci::kHeaderType, 0x00, 1);
  EXPECT_EQ(config8(isa, pci::kHeaderType), 0x80);
}

TEST(Piix3Isa, PirqRoutesStartDisabledAndTakeWhatFirmwareWrites) {
  Piix3Isa isa;
  // PIIX3 datasheet, PIRQRC[A:D]: 0x80 (routing disabled) after reset.
  EXPECT_EQ(config32(isa, 0x60), 0x80808080u);
  config_write(isa, 0x60, 0x0b0b0a0a, 4);  // SeaBIOS's piix_isa_bridge_setup: IRQs 10, 10, 11, 11
  EXPECT_EQ(config32(isa, 0x60), 0x0b0b0a0au);
}

// The PIIX4 PM function on an I/O bus, a clock the test sets and a recorded SCI line.
class Piix4PmTest : public ::testing::Test {
 protected:
  // Puts the PM block at `base` and enables it, as firmware does.
  void enable_at(uint16_t base) {
    config_write(m_pm, Piix4Pm::kPmBase, base, 4);
    config_write(m_pm, Piix4Pm::kPmRegMisc, 0x01, 1);
  }
  uint32_t in(uint64_t port, size_t size) {
    uint8_t bytes[4] = {};
    EXPECT_TRUE(m_pio.read(port, std::span(bytes, size))) << std::hex << port;
    uint32_t value = 0;
    for (size_t i = 0; i < size; ++i) value |= uint32_t{bytes[i]} << (8 * i);
    return value;
  }
  void out(uint64_t port, uint32_t value, size_t size) {
    uint8_t bytes[4];
    for (size_t i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
    EXPECT_TRUE(m_pio.write(port, std::span<const uint8_t>(bytes, size))) << std::hex << port;
  }
  bool decodes(uint64_t port) {
    uint8_t byte = 0;
    return m_pio.read(port, std::span(&byte, 1));
  }

  uint64_t m_now = 1'000'000'000'000;  // ns
  std::vector<GuestRequest> m_requests;
  std::vector<bool> m_sci;
  Bus m_pio{"pio"};
  Piix4Pm m_pm{m_pio, [this](GuestRequest request) { m_requests.push_back(request); },
               [this](bool level) { m_sci.push_back(level); }, [this] { return m_now; }};
};

constexpr uint16_t kSeaBiosPmBase = 0x600;
constexpr uint16_t kOvmfPmBase = 0xb000;
constexpr uint16_t kSts = Piix4Pm::kStatusOffset, kEn = Piix4Pm::kEnableOffset,
                   kCnt = Piix4Pm::kControlOffset, kTmr = Piix4Pm::kTimerOffset;

TEST_F(Piix4PmTest, IdentifiesAsQemusPiix4Pm) {
  expect_identity(m_pm, {0x8086, 0x7113, 0x03, 0x068000, 0x00});
  EXPECT_EQ(config8(m_pm, pci::kInterruptPin), 1);
  EXPECT_EQ(config8(m_pm, pci::kInterruptLine), Piix4Pm::kSciIrq);
}

TEST_F(Piix4PmTest, PmbaIsA64ByteAlignedIoBaseWithItsIoBitReadOnly) {
  // PIIX4 datasheet, PMBA: bit 0 hardwired to 1 (I/O space), bits 15:6 the base.
  EXPECT_EQ(config32(m_pm, Piix4Pm::kPmBase), 0x00000001u);
  config_write(m_pm, Piix4Pm::kPmBase, 0xffffffff, 4);
  EXPECT_EQ(config32(m_pm, Piix4Pm::kPmBase), 0x0000ffc1u);
  config_write(m_pm, Piix4Pm::kPmBase, 0x0000b03e, 4);
  EXPECT_EQ(config32(m_pm, Piix4Pm::kPmBase), 0x0000b001u);
  EXPECT_EQ(m_pm.programmed_base(), 0xb000);
  config_write(m_pm, Piix4Pm::kPmBase + 1, 0x06, 1);  // a byte write of the high half
  EXPECT_EQ(m_pm.programmed_base(), 0x0600);
}

TEST_F(Piix4PmTest, NothingDecodesUntilPmRegMiscEnablesTheBlock) {
  config_write(m_pm, Piix4Pm::kPmBase, kOvmfPmBase, 4);
  EXPECT_EQ(m_pm.programmed_base(), kOvmfPmBase) << "programmed, enabled or not";
  EXPECT_FALSE(m_pm.io_base());
  EXPECT_FALSE(decodes(kOvmfPmBase));
  config_write(m_pm, Piix4Pm::kPmRegMisc, 0x01, 1);
  EXPECT_EQ(m_pm.io_base(), kOvmfPmBase);
  EXPECT_TRUE(decodes(kOvmfPmBase));
  EXPECT_TRUE(decodes(kOvmfPmBase + Piix4Pm::kBlockSize - 1));
  EXPECT_FALSE(decodes(kOvmfPmBase + Piix4Pm::kBlockSize)) << "64 bytes, no more";
}

TEST_F(Piix4PmTest, TheBlockFollowsPmbaAndGoesWhenDisabled) {
  enable_at(kOvmfPmBase);
  ASSERT_TRUE(decodes(kOvmfPmBase));
  config_write(m_pm, Piix4Pm::kPmBase, kSeaBiosPmBase, 4);  // SeaBIOS moves it to 0x600
  EXPECT_EQ(m_pm.io_base(), kSeaBiosPmBase);
  EXPECT_TRUE(decodes(kSeaBiosPmBase + kTmr));
  EXPECT_FALSE(decodes(kOvmfPmBase + kTmr));
  config_write(m_pm, Piix4Pm::kPmRegMisc, 0x00, 1);
  EXPECT_FALSE(m_pm.io_base());
  EXPECT_FALSE(decodes(kSeaBiosPmBase + kTmr));
  EXPECT_EQ(m_pm.programmed_base(), kSeaBiosPmBase);
  // A command register cleared by OVMF's PCI enumeration does not stop the block (piix4_pm.h).
  config_write(m_pm, Piix4Pm::kPmRegMisc, 0x01, 1);
  config_write(m_pm, pci::kCommand, 0x0000, 2);
  EXPECT_TRUE(decodes(kSeaBiosPmBase + kTmr));
}

TEST_F(Piix4PmTest, ABaseOnAnotherDeviceIsRefusedAndTheOtherDeviceKeepsItsPorts) {
  class Occupant final : public BusDevice {
   public:
    std::string_view name() const override { return "occupant"; }
    void read(uint64_t, std::span<uint8_t> data) override {
      std::fill(data.begin(), data.end(), 7);
    }
    void write(uint64_t, std::span<const uint8_t>) override {}
  };
  ASSERT_TRUE(m_pio.add(std::make_shared<Occupant>(), 0x620, 4));
  enable_at(kSeaBiosPmBase);
  EXPECT_FALSE(m_pm.io_base());
  EXPECT_EQ(in(0x620, 1), 7u);
  EXPECT_FALSE(decodes(kSeaBiosPmBase));
  config_write(m_pm, Piix4Pm::kPmBase, 0x700, 4);  // somewhere free: the block appears
  EXPECT_EQ(m_pm.io_base(), 0x700);
  EXPECT_TRUE(decodes(0x700));
}

TEST_F(Piix4PmTest, PmTimerCountsAt3579545HzAndWrapsAt24Bits) {
  enable_at(kOvmfPmBase);
  const uint64_t port = kOvmfPmBase + kTmr;
  uint32_t start = in(port, 4);
  EXPECT_EQ(start, 0u) << "the timer starts with the device";
  m_now += 1'000'000;  // 1 ms: 3579.545 ticks
  EXPECT_EQ(in(port, 4), 3579u);
  m_now += 999'000'000;  // 1 s in all
  EXPECT_EQ(in(port, 4), 3579545u);
  EXPECT_EQ(in(port, 4) >> 24, 0u) << "24 bits: the top byte reads zero";
  // 2^24 ticks take 4.687 s: a 24-bit timer wraps (the FADT leaves TMR_VAL_EXT clear).
  m_now += 4'000'000'000;  // 5 s: 17897725 ticks
  EXPECT_EQ(in(port, 4), 17897725u - (1u << 24));
  // Byte and word reads see the same counter.
  EXPECT_EQ(in(port, 2), (17897725u - (1u << 24)) & 0xffff);
  EXPECT_EQ(in(port + 2, 1), ((17897725u - (1u << 24)) >> 16) & 0xff);
}

TEST_F(Piix4PmTest, SciEnReadsOneAndSoftOffIsSleepTypeZero) {
  enable_at(kSeaBiosPmBase);
  const uint64_t control = kSeaBiosPmBase + kCnt;
  EXPECT_EQ(in(control, 2) & 1, 1u) << "SCI_EN: always in ACPI mode";
  out(control, 0x0000, 2);
  EXPECT_EQ(in(control, 2) & 1, 1u) << "SCI_EN cannot be cleared: no SMM to hand back to";
  // SLP_TYP 5 with SLP_EN: a sleep state Haven does not offer.
  out(control, 1u << 13 | 5u << 10, 2);
  EXPECT_TRUE(m_requests.empty());
  EXPECT_EQ(in(control, 2) & (1u << 13), 0u) << "SLP_EN is write-only";
  // \_S5 is type 0 on QEMU's PIIX4 (and in Haven's DSDT for a PC): power off.
  out(control, 1u << 13 | 0u << 10, 2);
  EXPECT_EQ(m_requests, std::vector<GuestRequest>{GuestRequest::power_off});
  // SLP_TYP without SLP_EN is only a value.
  out(control, 0u << 10, 2);
  EXPECT_EQ(m_requests.size(), 1u);
  // Linux writes SLP_TYP first and then SLP_EN, in the high byte alone.
  out(control + 1, 0x20, 1);
  EXPECT_EQ(m_requests.size(), 2u);
}

TEST_F(Piix4PmTest, StatusBitsAreWriteOneToClear) {
  enable_at(kSeaBiosPmBase);
  const uint64_t status = kSeaBiosPmBase + kSts;
  m_pm.press_power_button();
  EXPECT_EQ(in(status, 2), Piix4Pm::kPowerButton);
  out(status, 0x0000, 2);
  EXPECT_EQ(in(status, 2), Piix4Pm::kPowerButton) << "writing zero keeps the bit";
  out(status, 0xfeff, 2);
  EXPECT_EQ(in(status, 2), Piix4Pm::kPowerButton) << "other ones leave it too";
  out(status + 1, 0x01, 1);
  EXPECT_EQ(in(status, 2), 0u);
}

TEST_F(Piix4PmTest, ThePowerButtonRaisesTheSciOnlyWhenEnabled) {
  enable_at(kSeaBiosPmBase);
  m_pm.press_power_button();
  EXPECT_TRUE(m_sci.empty()) << "PWRBTN_EN clear: status only";
  // The SCI is the level of status AND enable: enabling a pending event raises it.
  out(kSeaBiosPmBase + kEn, Piix4Pm::kPowerButton, 2);
  EXPECT_EQ(in(kSeaBiosPmBase + kEn, 2), Piix4Pm::kPowerButton);
  EXPECT_EQ(m_sci, std::vector<bool>{true});
  out(kSeaBiosPmBase + kSts, Piix4Pm::kPowerButton, 2);  // the OS handled it
  EXPECT_EQ(m_sci, (std::vector<bool>{true, false}));
  m_pm.press_power_button();
  EXPECT_EQ(m_sci, (std::vector<bool>{true, false, true}));
  m_pm.press_power_button();
  EXPECT_EQ(m_sci.size(), 3u) << "a level: a second press while pending adds no edge";
  out(kSeaBiosPmBase + kEn, 0, 2);
  EXPECT_EQ(m_sci.back(), false) << "disabling the source lowers the line";
}

TEST_F(Piix4PmTest, ApmcEnableStaysSetWhateverIsWritten) {
  // SeaBIOS's smm_setup returns early when DEVACTB bit 25 (config 0x5b bit 1) is set; with it
  // clear it raises an SMI that no handler answers (Haven has no SMM).
  EXPECT_EQ(config8(m_pm, 0x5b) & 0x02, 0x02);
  config_write(m_pm, 0x5b, 0x00, 1);
  EXPECT_EQ(config8(m_pm, 0x5b), 0x02);
  config_write(m_pm, 0x58, 0x00000000, 4);
  EXPECT_EQ(config8(m_pm, 0x5b), 0x02);
  config_write(m_pm, 0x5b, 0xfd, 1);
  EXPECT_EQ(config8(m_pm, 0x5b), 0xff) << "the other bits are writable";
}

TEST_F(Piix4PmTest, ReachableThroughThePciRootAt00_01_3) {
  pci::PciRoot root([](GuestRequest) {});
  auto pm = std::make_shared<Piix4Pm>(
      m_pio, [](GuestRequest) {}, [](bool) {});
  ASSERT_TRUE(root.add(1, 0, std::make_shared<Piix3Isa>()));
  ASSERT_TRUE(root.add(1, 3, pm));
  auto cf8 = [&](uint32_t reg) {
    uint32_t address = 0x80000000u | 1u << 11 | 3u << 8 | reg;
    uint8_t bytes[4];
    for (size_t i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(address >> (8 * i));
    root.write(0, bytes);
  };
  cf8(Piix4Pm::kPmBase);
  const uint8_t base[4] = {0x00, 0x06, 0x00, 0x00};
  root.write(4, base);
  cf8(Piix4Pm::kPmRegMisc);
  const uint8_t enable = 0x01;
  root.write(4, std::span(&enable, 1));
  EXPECT_EQ(pm->io_base(), kSeaBiosPmBase);
}

TEST_F(Piix4PmTest, SnapshotKeepsTheRegistersAndTheMapping) {
  enable_at(kSeaBiosPmBase);
  out(kSeaBiosPmBase + kEn, Piix4Pm::kPowerButton, 2);
  out(kSeaBiosPmBase + kCnt, 3u << 10, 2);  // an SLP_TYP value without SLP_EN
  m_pm.press_power_button();
  DeviceState saved = DeviceState::parse(m_pm.save_state().dump());

  Bus pio("pio");
  std::vector<bool> sci;
  Piix4Pm restored(
      pio, [](GuestRequest) {}, [&sci](bool level) { sci.push_back(level); },
      [this] { return m_now; });
  auto result = restored.restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(restored.io_base(), kSeaBiosPmBase);
  EXPECT_EQ(restored.programmed_base(), kSeaBiosPmBase);
  auto read16 = [&](uint64_t port) {
    uint8_t bytes[2] = {};
    EXPECT_TRUE(pio.read(port, bytes));
    return bytes[0] | bytes[1] << 8;
  };
  EXPECT_EQ(read16(kSeaBiosPmBase + kSts), Piix4Pm::kPowerButton);
  EXPECT_EQ(read16(kSeaBiosPmBase + kEn), Piix4Pm::kPowerButton);
  EXPECT_EQ(read16(kSeaBiosPmBase + kCnt), 3 << 10 | 1);
  EXPECT_EQ(sci, std::vector<bool>{true}) << "a pending, enabled event raises the line again";
  EXPECT_EQ(config8(restored, 0x5b) & 0x02, 0x02);

  DeviceState broken = saved;
  broken.erase("registers");
  Piix4Pm other(
      pio, [](GuestRequest) {}, [](bool) {});
  EXPECT_FALSE(other.restore_state(broken));
  broken = saved;
  broken["registers"]["status"] = 0x10000;
  EXPECT_FALSE(other.restore_state(broken));
}

}  // namespace
}  // namespace haven::devices::chipset
