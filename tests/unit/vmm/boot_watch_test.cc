#include "vmm/boot_watch.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace haven::vmm {
namespace {

using std::chrono_literals::operator""s;

// A watch whose give-ups the test collects, fed console output as the UART would.
class BootWatchTest : public ::testing::Test {
 protected:
  void make(Firmware firmware) {
    m_watch.emplace(firmware, [this](const std::string& why) { m_reasons.push_back(why); });
  }
  void feed(std::string_view text) {
    m_watch->observe(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  // Feeds `text` a byte at a time, as a polling serial driver writes it.
  void feed_bytewise(std::string_view text) {
    for (char c : text) feed(std::string_view(&c, 1));
  }

  std::optional<BootWatch> m_watch;
  std::vector<std::string> m_reasons;
};

// SeaBIOS on its serial console (sercon), with its colour and cursor escapes.
constexpr std::string_view kSeaBiosBanner =
    "SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n"
    "\x1b[2J\x1b[0;1HBooting from Hard Disk...\x1b[0m\r\n";

TEST_F(BootWatchTest, SeaBiosBootingADiskIsLeftAlone) {
  make(Firmware::bios);
  feed("SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\nMachine UUID 00000000-0000\r\n");
  EXPECT_FALSE(m_watch->handed_over());
  feed(kSeaBiosBanner);
  EXPECT_TRUE(m_watch->handed_over());
  feed("\x1b[0mGRUB loading.\r\nWelcome to GRUB!\r\n");
  m_watch->deadline_passed(60s);
  EXPECT_TRUE(m_reasons.empty());
  EXPECT_TRUE(m_watch->finished()) << "the boot loader runs: the watch stops looking";
}

TEST_F(BootWatchTest, SeaBiosRunningOutOfDevicesGivesUpOnce) {
  make(Firmware::bios);
  feed(kSeaBiosBanner);
  feed("Boot failed: not a bootable disk\r\n\r\n");
  EXPECT_FALSE(m_watch->handed_over()) << "that boot sector was no good";
  EXPECT_TRUE(m_reasons.empty()) << "SeaBIOS may still try the next device";
  feed("Booting from Floppy...\r\nBoot failed: could not read the boot disk\r\n\r\n");
  EXPECT_TRUE(m_reasons.empty());
  feed("\x1b[1;37mNo bootable device.\x1b[0m\r\n");
  ASSERT_EQ(m_reasons.size(), 1u);
  EXPECT_EQ(m_reasons[0], "the firmware found nothing to boot (it said \"No bootable device\")");
  EXPECT_TRUE(m_watch->finished());
  feed("No bootable device.\r\n");
  m_watch->deadline_passed(60s);
  EXPECT_EQ(m_reasons.size(), 1u) << "give_up is called at most once";
}

TEST_F(BootWatchTest, MarkersSplitAcrossWritesAreFound) {
  make(Firmware::bios);
  feed("Booting from Hard Disk...\r\nBoot fa");
  EXPECT_TRUE(m_watch->handed_over()) << "the first marker was whole";
  feed("iled: not a bootable disk\r\n");
  EXPECT_FALSE(m_watch->handed_over()) << "the failure split across two writes";
  feed("No boot");
  EXPECT_TRUE(m_reasons.empty());
  feed("able device.\r\n");
  EXPECT_EQ(m_reasons.size(), 1u);
}

TEST_F(BootWatchTest, AWholeTranscriptByteByByte) {
  make(Firmware::bios);
  feed_bytewise(
      "SeaBIOS (version 1.16.2)\r\nBooting from Hard Disk...\r\n"
      "Boot failed: not a bootable disk\r\n\r\nNo bootable device.\r\n");
  EXPECT_EQ(m_reasons.size(), 1u);
}

TEST_F(BootWatchTest, NothingWithinTheTimeoutGivesUpNamingIt) {
  make(Firmware::bios);
  feed("SeaBIOS (version 1.16.2)\r\n");
  m_watch->deadline_passed(60s);
  ASSERT_EQ(m_reasons.size(), 1u);
  EXPECT_EQ(m_reasons[0], "the firmware started no boot loader within 60 s (boot_timeout)");
  EXPECT_TRUE(m_watch->finished());
  m_watch->deadline_passed(60s);
  feed("No bootable device.\r\n");
  EXPECT_EQ(m_reasons.size(), 1u);
}

TEST_F(BootWatchTest, AFailureAfterTheLastStartMeansNoBootLoaderAtTheDeadline) {
  make(Firmware::bios);
  feed("Booting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n");
  m_watch->deadline_passed(30s);
  ASSERT_EQ(m_reasons.size(), 1u);
  EXPECT_NE(m_reasons[0].find("within 30 s"), std::string::npos) << m_reasons[0];
}

TEST_F(BootWatchTest, AfterTheDeadlineWithABootLoaderLaterFailureTextIsIgnored) {
  make(Firmware::bios);
  feed(kSeaBiosBanner);
  m_watch->deadline_passed(60s);
  // The guest's own output may say anything later (a shell session, a log...).
  feed("Boot failed: not a bootable disk\r\nNo bootable device.\r\n");
  EXPECT_TRUE(m_reasons.empty());
}

TEST_F(BootWatchTest, StandDownStopsLookingAtOnce) {
  make(Firmware::bios);
  m_watch->stand_down();  // a restored snapshot continues a guest that booted long ago
  EXPECT_TRUE(m_watch->finished());
  feed("No bootable device.\r\n");
  m_watch->deadline_passed(60s);
  EXPECT_TRUE(m_reasons.empty());
}

TEST_F(BootWatchTest, SeaBiosMarkersMeanNothingToAUefiWatch) {
  make(Firmware::uefi);
  feed("Booting from Hard Disk...\r\nNo bootable device.\r\n");
  EXPECT_FALSE(m_watch->handed_over());
  EXPECT_TRUE(m_reasons.empty());
}

// OVMF's BdsDxe (MdeModulePkg/Universal/BdsDxe/BdsEntry.c) prints these on the console.
TEST_F(BootWatchTest, OvmfStartingALoaderIsLeftAlone) {
  make(Firmware::uefi);
  feed(
      "\x1b[0m\x1b[37m\x1b[40mBdsDxe: loading Boot0001 \"UEFI QEMU HARDDISK QM00001 \" from "
      "PciRoot(0x0)/Pci(0x2,0x0)\r\n");
  EXPECT_FALSE(m_watch->handed_over());
  feed(
      "BdsDxe: starting Boot0001 \"UEFI QEMU HARDDISK QM00001 \" from "
      "PciRoot(0x0)/Pci(0x2,0x0)\r\n\x1b[0m");
  EXPECT_TRUE(m_watch->handed_over());
  m_watch->deadline_passed(60s);
  EXPECT_TRUE(m_reasons.empty());
}

TEST_F(BootWatchTest, OvmfFallingBackToItsShellGivesUp) {
  make(Firmware::uefi);
  feed(
      "BdsDxe: failed to load Boot0001 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0): "
      "Not Found\r\n");
  EXPECT_TRUE(m_reasons.empty());
  feed("BdsDxe: starting Boot0001 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0)\r\n");
  feed(
      "BdsDxe: failed to start Boot0001 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0): "
      "Not Found\r\n");
  EXPECT_FALSE(m_watch->handed_over());
  EXPECT_TRUE(m_reasons.empty());
  // The shell is a boot option too: starting it means there was nothing else.
  feed(
      "\x1b[0mBdsDxe: loading Boot0002 \"EFI Internal Shell\" from Fv(7CB8BDC9-F8EB-4F34-AAEA-"
      "3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)\r\nBdsDxe: starting Boot0002 "
      "\"EFI Internal Shell\" from Fv(7CB8BDC9)\r\n");
  ASSERT_EQ(m_reasons.size(), 1u);
  EXPECT_EQ(m_reasons[0],
            "the firmware found nothing to boot (it said \"starting its UEFI shell\")");
  feed("Shell> ");
  EXPECT_EQ(m_reasons.size(), 1u);
}

TEST_F(BootWatchTest, OvmfWithNoOptionLeftGivesUp) {
  make(Firmware::uefi);
  feed("BdsDxe: failed to start Boot0001 \"UEFI Misc Device\" from PciRoot(0x0): Not Found\r\n");
  feed("\x1b[1m\x1b[33mBdsDxe: No bootable option or device was found.\r\n");
  ASSERT_EQ(m_reasons.size(), 1u);
  EXPECT_NE(m_reasons[0].find("No bootable option or device was found"), std::string::npos);
}

TEST_F(BootWatchTest, TheShellPromptSplitAcrossWritesGivesUp) {
  make(Firmware::uefi);
  feed("UEFI Interactive Shell v2.2\r\nShe");
  EXPECT_TRUE(m_reasons.empty());
  feed("ll> ");
  EXPECT_EQ(m_reasons.size(), 1u);
}

TEST_F(BootWatchTest, AfterAStartedBootLoaderTheOsMayPrintAnyMarker) {
  // With no boot timeout (boot verification), the watch keeps looking: a running OS that
  // shows a file or a prompt with a marker's words in it must not be ended.
  make(Firmware::uefi);
  feed("BdsDxe: starting Boot0001 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0)\r\n");
  feed("Welcome to GRUB!\r\n[    1.0] Linux version 6.1\r\n$ cat notes\r\nShell> \r\n");
  feed("No bootable option or device was found\r\n");
  EXPECT_TRUE(m_reasons.empty());
  EXPECT_TRUE(m_watch->handed_over());
  make(Firmware::bios);
  feed(kSeaBiosBanner);
  feed("login: No bootable device.\r\n");
  EXPECT_TRUE(m_reasons.empty());
}

}  // namespace
}  // namespace haven::vmm
