// The CD-ROM's MMC commands and mode pages.
#include <gtest/gtest.h>

#include <vector>

#include "devices/scsi/cdrom.h"
#include "scsi_cdrom_helpers.h"

namespace haven::devices::scsi {
namespace {

using cdrom_test::kMediaBlocks;
using cdrom_test::ready;
using cdrom_test::run;

constexpr uint64_t kDvdBytes = CdRom::kMaxCdBytes + CdRom::kBlockSize;

TEST(ScsiCdRomModeSense, CapabilitiesPageFollowsTheLockWithoutBlockDescriptors) {
  CdRom cdrom = ready();
  auto page = run(cdrom, {0x5a, 0, 0x2a, 0, 0, 0, 0, 0x01, 0x00, 0});
  ASSERT_EQ(page.data.size(), 8u + 22u);
  EXPECT_EQ(load_be16(page.data, 0), page.data.size() - 2) << "mode data length";
  EXPECT_EQ(load_be16(page.data, 6), 0) << "no block descriptors";
  EXPECT_EQ(page.data[8], 0x2a);
  EXPECT_EQ(page.data[9], 0x14);
  EXPECT_TRUE(page.data[8 + 2] & 0x08) << "reads DVD-ROM";
  EXPECT_EQ(page.data[8 + 3], 0) << "writes nothing";
  EXPECT_EQ(page.data[8 + 6] & 0x02, 0) << "unlocked";
  EXPECT_TRUE(page.data[8 + 6] & 0x08) << "can eject";
  EXPECT_EQ(load_be16(page.data, 8 + 8), 50 * 176);
  run(cdrom, {0x1e, 0, 0, 0, 1, 0});
  EXPECT_TRUE(run(cdrom, {0x5a, 0, 0x2a, 0, 0, 0, 0, 0x01, 0x00, 0}).data[8 + 6] & 0x02);
}

TEST(ScsiCdRomModeSense, SixByteFormAllPagesAndChangeableValues) {
  CdRom cdrom = ready();
  // DBD clear: a CD drive still returns no block descriptor.
  auto recovery = run(cdrom, {0x1a, 0, 0x01, 0, 255, 0});
  EXPECT_EQ(recovery.data,
            (std::vector<uint8_t>{15, 0, 0, 0, 0x01, 10, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0}));
  auto all = run(cdrom, {0x1a, 0, 0x3f, 0, 255, 0});
  ASSERT_EQ(all.data.size(), 4u + 12u + 22u);
  EXPECT_EQ(all.data[4], 0x01);
  EXPECT_EQ(all.data[16], 0x2a);
  auto changeable = run(cdrom, {0x1a, 0, 0x40 | 0x2a, 0, 255, 0});
  ASSERT_EQ(changeable.data.size(), 4u + 22u);
  EXPECT_EQ(std::vector<uint8_t>(changeable.data.begin() + 6, changeable.data.end()),
            std::vector<uint8_t>(20, 0));
  EXPECT_EQ(run(cdrom, {0x1a, 0, 0x3f, 0xff, 255, 0}).data.size(), 38u) << "all subpages";
  EXPECT_EQ(run(cdrom, {0x1a, 0, 0x3f, 0, 10, 0}).data.size(), 10u);
}

TEST(ScsiCdRomModeSense, RefusesSavedValuesUnknownPagesAndSubpages) {
  CdRom cdrom = ready();
  EXPECT_EQ(run(cdrom, {0x1a, 0, 0xc0 | 0x2a, 0, 255, 0}).sense, kSenseSavingNotSupported);
  EXPECT_EQ(run(cdrom, {0x1a, 0, 0x08, 0, 255, 0}).sense, kSenseInvalidField);
  EXPECT_EQ(run(cdrom, {0x1a, 0, 0x2a, 0x05, 255, 0}).sense, kSenseInvalidField);
}

TEST(ScsiCdRomToc, FormattedTocHasTrackOneAndTheLeadOut) {
  CdRom cdrom = ready();
  auto toc = run(cdrom, {0x43, 0, 0, 0, 0, 0, 0, 0x03, 0x24, 0});
  EXPECT_EQ(toc.data, (std::vector<uint8_t>{0, 18,   1,    1,              //
                                            0, 0x14, 1,    0, 0, 0, 0, 0,  //
                                            0, 0x14, 0xaa, 0, 0, 0, 0, kMediaBlocks}));
  auto msf = run(cdrom, {0x43, 0x02, 0, 0, 0, 0, 0, 0, 255, 0});
  ASSERT_EQ(msf.data.size(), 20u);
  EXPECT_EQ(std::vector<uint8_t>(msf.data.begin() + 8, msf.data.begin() + 12),
            (std::vector<uint8_t>{0, 0, 2, 0}))
      << "block 0 is 00:02:00";
  // 100 blocks + 150: 0 minutes, 3 seconds, 25 frames.
  EXPECT_EQ(std::vector<uint8_t>(msf.data.begin() + 16, msf.data.end()),
            (std::vector<uint8_t>{0, 0, 3, 25}));
  auto lead_out = run(cdrom, {0x43, 0, 0, 0, 0, 0, 0xaa, 0, 255, 0});
  EXPECT_EQ(lead_out.data.size(), 12u);
  EXPECT_EQ(lead_out.data[6], 0xaa);
  EXPECT_EQ(run(cdrom, {0x43, 0, 0, 0, 0, 0, 2, 0, 255, 0}).sense, kSenseInvalidField);
  EXPECT_EQ(run(cdrom, {0x43, 0, 0, 0, 0, 0, 0, 0, 4, 0}).data.size(), 4u);
}

TEST(ScsiCdRomToc, SessionInformationAndRawToc) {
  CdRom cdrom = ready();
  auto session = run(cdrom, {0x43, 0, 1, 0, 0, 0, 0, 0, 255, 0});
  EXPECT_EQ(session.data, (std::vector<uint8_t>{0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0}));
  auto raw = run(cdrom, {0x43, 0, 2, 0, 0, 0, 1, 0, 255, 0});
  ASSERT_EQ(raw.data.size(), 4u + 4 * 11u);
  EXPECT_EQ(load_be16(raw.data, 0), raw.data.size() - 2);
  EXPECT_EQ(raw.data[4 + 3], 0xa0);
  EXPECT_EQ(raw.data[4 + 11 + 3], 0xa1);
  EXPECT_EQ(raw.data[4 + 22 + 3], 0xa2);
  EXPECT_EQ(std::vector<uint8_t>(raw.data.begin() + 4 + 22 + 8, raw.data.begin() + 4 + 33),
            (std::vector<uint8_t>{0, 3, 25}))
      << "lead-out in MSF";
  EXPECT_EQ(raw.data[4 + 33 + 3], 1);
  for (uint8_t format : {3, 4, 5, 15})
    EXPECT_EQ(run(cdrom, {0x43, 0, format, 0, 0, 0, 0, 0, 255, 0}).sense, kSenseInvalidField);
}

TEST(ScsiCdRomConfiguration, ProfileFollowsTheImageSize) {
  CdRom cd = ready();
  auto config = run(cd, {0x46, 0, 0, 0, 0, 0, 0, 0x10, 0, 0});
  ASSERT_EQ(config.data.size(), 40u);
  EXPECT_EQ(load_be32(config.data, 0), 36u);
  EXPECT_EQ(load_be16(config.data, 6), 0x0008) << "CD-ROM";
  EXPECT_EQ(load_be16(config.data, 8), 0x0000) << "profile list first";
  EXPECT_EQ(config.data[18], 1) << "CD-ROM current";
  EXPECT_EQ(config.data[14], 0) << "DVD-ROM not";
  EXPECT_EQ(load_be16(config.data, 20), 0x0001);
  EXPECT_EQ(load_be16(config.data, 32), 0x0003);
  CdRom dvd = ready(kDvdBytes);
  EXPECT_EQ(load_be16(run(dvd, {0x46, 0, 0, 0, 0, 0, 0, 0, 40, 0}).data, 6), 0x0010);
  CdRom eighty_minutes = ready(CdRom::kMaxCdBytes);
  EXPECT_EQ(load_be16(run(eighty_minutes, {0x46, 0, 0, 0, 0, 0, 0, 0, 8, 0}).data, 6), 0x0008)
      << "exactly 80 minutes is still a CD";
}

TEST(ScsiCdRomConfiguration, RequestTypesSelectFeatures) {
  CdRom cdrom = ready();
  auto one = run(cdrom, {0x46, 0x02, 0x00, 0x03, 0, 0, 0, 0, 255, 0});
  ASSERT_EQ(one.data.size(), 8u + 8u);
  EXPECT_EQ(load_be16(one.data, 8), 0x0003);
  EXPECT_EQ(load_be32(one.data, 0), 12u);
  EXPECT_EQ(run(cdrom, {0x46, 0x02, 0x00, 0x20, 0, 0, 0, 0, 255, 0}).data.size(), 8u)
      << "a feature the drive lacks: the header only";
  EXPECT_EQ(run(cdrom, {0x46, 0x01, 0x00, 0x01, 0, 0, 0, 0, 255, 0}).data.size(), 8u + 12 + 8);
  EXPECT_EQ(run(cdrom, {0x46, 0x03, 0, 0, 0, 0, 0, 0, 255, 0}).sense, kSenseInvalidField);
}

TEST(ScsiCdRomEvents, PolledMediaStatusSaysPresentWithoutEvents) {
  CdRom cdrom = ready();
  EXPECT_EQ(run(cdrom, {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0}).data,
            (std::vector<uint8_t>{0, 4, 4, 0x10, 0, 0x02, 0, 0}));
  EXPECT_EQ(run(cdrom, {0x4a, 1, 0, 0, 0x02, 0, 0, 0, 8, 0}).data,
            (std::vector<uint8_t>{0, 0, 0x80, 0x10}))
      << "no supported class asked for";
  EXPECT_EQ(run(cdrom, {0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8, 0}).sense, kSenseInvalidField)
      << "asynchronous";
  EXPECT_EQ(run(cdrom, {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 2, 0}).data.size(), 2u);
}

TEST(ScsiCdRomDisc, DiscInformationAndMechanismStatus) {
  CdRom cdrom = ready();
  auto disc = run(cdrom, {0x51, 0, 0, 0, 0, 0, 0, 0, 255, 0});
  ASSERT_EQ(disc.data.size(), 34u);
  EXPECT_EQ(load_be16(disc.data, 0), 32);
  EXPECT_EQ(disc.data[2], 0x0e) << "finalized, last session complete";
  EXPECT_EQ(disc.data[4], 1) << "one session";
  EXPECT_EQ(run(cdrom, {0x51, 1, 0, 0, 0, 0, 0, 0, 255, 0}).sense, kSenseInvalidField);
  auto mechanism = run(cdrom, {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0});
  EXPECT_EQ(mechanism.data, (std::vector<uint8_t>{0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(run(cdrom, {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0}).data.size(), 3u);
}

TEST(ScsiCdRomDvdStructure, ACdHasOnlyTheCapabilityList) {
  CdRom cdrom = ready();
  auto list = run(cdrom, {0xad, 0, 0, 0, 0, 0, 0, 0xff, 0, 255, 0, 0});
  ASSERT_EQ(list.data.size(), 4u + 3 * 4u);
  EXPECT_EQ(load_be16(list.data, 0), list.data.size() - 2);
  EXPECT_EQ(list.data[4], 0x00);
  EXPECT_EQ(load_be16(list.data, 6), 2052);
  EXPECT_EQ(run(cdrom, {0xad, 0, 0, 0, 0, 0, 0, 0x00, 0x08, 0x04, 0, 0}).sense,
            kSenseIncompatibleMedium);
  EXPECT_EQ(run(cdrom, {0xad, 1, 0, 0, 0, 0, 0, 0xff, 0, 255, 0, 0}).sense, kSenseInvalidField);
}

TEST(ScsiCdRomDvdStructure, ADvdHasPhysicalCopyrightAndManufacturingInformation) {
  CdRom dvd = ready(kDvdBytes);
  uint64_t blocks = dvd.blocks();
  auto physical = run(dvd, {0xad, 0, 0, 0, 0, 0, 0, 0x00, 0x08, 0x04, 0, 0});
  ASSERT_EQ(physical.data.size(), 2052u);
  EXPECT_EQ(load_be16(physical.data, 0), 2050);
  EXPECT_EQ(physical.data[4], 0x01);
  EXPECT_EQ(load_be32(physical.data, 12), blocks - 1);
  EXPECT_EQ(run(dvd, {0xad, 0, 0, 0, 0, 0, 0, 0x00, 0, 16, 0, 0}).data.size(), 16u);
  EXPECT_EQ(run(dvd, {0xad, 0, 0, 0, 0, 0, 1, 0x00, 0x08, 0x04, 0, 0}).sense, kSenseInvalidField)
      << "layer 1 of one";
  EXPECT_EQ(run(dvd, {0xad, 0, 0, 0, 0, 0, 0, 0x01, 0, 255, 0, 0}).data.size(), 8u);
  EXPECT_EQ(run(dvd, {0xad, 0, 0, 0, 0, 0, 0, 0x04, 0x08, 0x04, 0, 0}).data.size(), 2052u);
  EXPECT_EQ(run(dvd, {0xad, 0, 0, 0, 0, 0, 0, 0x03, 0, 255, 0, 0}).sense, kSenseInvalidField)
      << "no BCA";
  EXPECT_EQ(run(dvd, {0xad, 0, 0, 0, 0, 0, 0, 0x30, 0, 255, 0, 0}).sense, kSenseInvalidField);
}

}  // namespace
}  // namespace haven::devices::scsi
