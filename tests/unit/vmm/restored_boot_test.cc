#include "vmm/restored_boot.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/sys.h"

namespace haven::vmm {
namespace {

VmConfig bare_disk() {
  VmConfig config;
  config.disks.push_back({.path = "/restored/disk-0.img"});
  return config;
}

VmConfig firmware_guest(Firmware firmware) {
  VmConfig config = bare_disk();
  config.firmware = firmware;
  config.cdrom = "/media/install.iso";
  if (firmware == Firmware::bios) config.floppy = "/media/tools.img";
  config.boot_order = {BootDevice::cdrom, BootDevice::disk};
  config.nvram = "/var/lib/haven/disks/original/nvram.fd";
  return config;
}

std::string error_of(VmConfig config, const BootChoice& choice, bool bare) {
  auto applied = apply_boot_choice(config, choice, bare);
  return applied ? std::string("(applied)") : applied.error().message();
}

TEST(RestoredBoot, ABareDiskBootsThroughTheFirmwareGiven) {
  for (Firmware firmware : {Firmware::bios, Firmware::uefi}) {
    VmConfig config = bare_disk();
    auto notes = apply_boot_choice(config, {.firmware = firmware}, true);
    ASSERT_TRUE(notes) << notes.error().message();
    EXPECT_TRUE(notes->empty());
    EXPECT_EQ(config.firmware, firmware);
    EXPECT_TRUE(config.kernel.empty());
    EXPECT_EQ(config.on_reboot, RebootAction::restart) << "a PC's disk restarts when it reboots";
    EXPECT_TRUE(validate(config)) << validate(config).error().message();
  }
}

TEST(RestoredBoot, ABareDiskWithNeitherKernelNorFirmwareIsRefusedInOneLine) {
  std::string error = error_of(bare_disk(), {}, true);
  EXPECT_TRUE(error.starts_with("kernel: the snapshot is a bare disk")) << error;
  EXPECT_NE(error.find("--kernel"), std::string::npos) << error;
  EXPECT_NE(error.find("--firmware bios|uefi"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  // An initrd alone is no way to boot either.
  EXPECT_TRUE(error_of(bare_disk(), {.initrd = "/boot/initrd"}, true).starts_with("kernel: "));
}

TEST(RestoredBoot, ABareDiskBootsTheKernelGiven) {
  VmConfig config = bare_disk();
  auto notes = apply_boot_choice(
      config, {.kernel = "/boot/vmlinuz", .initrd = "/boot/initrd", .cmdline = "root=/dev/vda"},
      true);
  ASSERT_TRUE(notes) << notes.error().message();
  EXPECT_EQ(config.firmware, Firmware::none);
  EXPECT_EQ(config.kernel, "/boot/vmlinuz");
  EXPECT_EQ(config.initrd, "/boot/initrd");
  EXPECT_EQ(config.cmdline, "root=/dev/vda");
  EXPECT_EQ(config.on_reboot, RebootAction::exit);
  EXPECT_TRUE(validate(config));
}

TEST(RestoredBoot, FirmwareReplacesADirectBootGuestsKernel) {
  VmConfig config = bare_disk();
  config.kernel = "/boot/vmlinuz";
  config.initrd = "/boot/initrd";
  config.cmdline = "console=ttyS0 root=/dev/vda";
  auto notes = apply_boot_choice(config, {.firmware = Firmware::uefi}, false);
  ASSERT_TRUE(notes) << notes.error().message();
  EXPECT_EQ(config.firmware, Firmware::uefi);
  EXPECT_TRUE(config.kernel.empty());
  EXPECT_FALSE(config.initrd);
  EXPECT_EQ(config.cmdline, VmConfig::kDefaultCmdline);
  EXPECT_EQ(config.on_reboot, RebootAction::exit) << "the definition's own choice stays";
  EXPECT_TRUE(validate(config)) << validate(config).error().message();
}

TEST(RestoredBoot, AKernelSwitchesAFirmwareGuestToDirectBoot) {
  VmConfig config = firmware_guest(Firmware::bios);
  auto notes = apply_boot_choice(config, {.kernel = "/boot/vmlinuz"}, false);
  ASSERT_TRUE(notes) << notes.error().message();
  EXPECT_EQ(config.firmware, Firmware::none);
  EXPECT_EQ(config.kernel, "/boot/vmlinuz");
  EXPECT_FALSE(config.cdrom);
  EXPECT_FALSE(config.floppy);
  EXPECT_FALSE(config.nvram);
  EXPECT_TRUE(config.boot_order.empty());
  ASSERT_EQ(notes->size(), 2u);
  EXPECT_NE((*notes)[0].find("/media/install.iso"), std::string::npos) << (*notes)[0];
  EXPECT_NE((*notes)[1].find("/media/tools.img"), std::string::npos) << (*notes)[1];
  EXPECT_TRUE(validate(config)) << validate(config).error().message();
}

TEST(RestoredBoot, UefiLeavesABiosGuestsFloppyOut) {
  VmConfig config = firmware_guest(Firmware::bios);
  config.boot_order = {BootDevice::floppy, BootDevice::disk};
  auto notes = apply_boot_choice(config, {.firmware = Firmware::uefi}, false);
  ASSERT_TRUE(notes) << notes.error().message();
  EXPECT_FALSE(config.floppy);
  EXPECT_EQ(config.cdrom, "/media/install.iso");
  EXPECT_EQ(config.boot_order, std::vector<BootDevice>{BootDevice::disk});
  ASSERT_EQ(notes->size(), 1u);
  EXPECT_TRUE(validate(config)) << validate(config).error().message();
}

TEST(RestoredBoot, AFirmwareGuestKeepsItsFirmwareAndMediaWithoutAChoice) {
  VmConfig config = firmware_guest(Firmware::uefi);
  VmConfig before = config;
  auto notes = apply_boot_choice(config, {}, false);
  ASSERT_TRUE(notes) << notes.error().message();
  EXPECT_EQ(config.firmware, Firmware::uefi);
  EXPECT_EQ(config.cdrom, before.cdrom);
  EXPECT_EQ(config.boot_order, before.boot_order);
}

TEST(RestoredBoot, ContradictoryChoicesAreRefused) {
  EXPECT_TRUE(error_of(bare_disk(), {.kernel = "/k", .firmware = Firmware::bios}, true)
                  .starts_with("firmware: give either --kernel"));
  EXPECT_TRUE(error_of(bare_disk(), {.initrd = "/i", .firmware = Firmware::uefi}, true)
                  .starts_with("initrd: a uefi guest boots its own loader"));
  EXPECT_TRUE(error_of(firmware_guest(Firmware::bios), {.cmdline = "quiet"}, false)
                  .starts_with("cmdline: a bios guest boots its own loader"));
  EXPECT_TRUE(error_of(bare_disk(), {.firmware = Firmware::none}, true).starts_with("firmware: "));
}

TEST(RestoredBoot, ParsesOnlyBiosAndUefi) {
  EXPECT_EQ(parse_boot_firmware("bios").value(), Firmware::bios);
  EXPECT_EQ(parse_boot_firmware("uefi").value(), Firmware::uefi);
  for (const char* bad : {"none", "UEFI", "", "efi"}) {
    auto parsed = parse_boot_firmware(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_TRUE(parsed.error().message().starts_with("firmware: ")) << parsed.error().message();
  }
}

class PlaceNvramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-nvram-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  std::string m_dir;
};

TEST_F(PlaceNvramTest, StoredVariablesBecomeTheGuestsOwnPrivateFile) {
  VmConfig config = firmware_guest(Firmware::uefi);
  std::vector<uint8_t> stored(64 << 10, 0xff);
  stored[100] = 0x42;
  ASSERT_TRUE(place_nvram(config, stored, m_dir));
  EXPECT_EQ(config.nvram, m_dir + "/nvram.fd") << "never the original guest's store";
  EXPECT_EQ(sys::read_file(*config.nvram, 1 << 20).value(), stored);
  struct stat info {};
  ASSERT_EQ(::stat(config.nvram->c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto again = place_nvram(config, stored, m_dir);
  EXPECT_FALSE(again) << "an existing store is never overwritten";
}

TEST_F(PlaceNvramTest, WithoutStoredVariablesTheVmmMakesAFreshStore) {
  VmConfig config = firmware_guest(Firmware::uefi);
  ASSERT_TRUE(place_nvram(config, {}, m_dir));
  EXPECT_EQ(config.nvram, m_dir + "/nvram.fd");
  EXPECT_FALSE(std::filesystem::exists(*config.nvram)) << "prepare_nvram makes it at the start";
}

TEST_F(PlaceNvramTest, AGuestWithoutUefiHasNone) {
  VmConfig config = firmware_guest(Firmware::bios);
  ASSERT_TRUE(place_nvram(config, std::vector<uint8_t>(4096, 0xff), m_dir));
  EXPECT_FALSE(config.nvram);
  EXPECT_TRUE(std::filesystem::is_empty(m_dir));
}

}  // namespace
}  // namespace haven::vmm
