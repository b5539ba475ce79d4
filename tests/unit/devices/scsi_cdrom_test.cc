#include "devices/scsi/cdrom.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scsi_cdrom_helpers.h"

namespace haven::devices::scsi {
namespace {

using cdrom_test::kMediaBlocks;
using cdrom_test::kMediaBytes;
using cdrom_test::ready;
using cdrom_test::run;

TEST(ScsiCdbLength, FollowsTheOpcodeGroup) {
  EXPECT_EQ(cdb_length(0x00), 6u);
  EXPECT_EQ(cdb_length(0x28), 10u);
  EXPECT_EQ(cdb_length(0x5a), 10u);
  EXPECT_EQ(cdb_length(0x88), 16u);
  EXPECT_EQ(cdb_length(0xa8), 12u);
  for (int op : {0x60, 0x7f, 0xc0, 0xdf, 0xe0, 0xff}) EXPECT_EQ(cdb_length(op), 0u) << op;
}

TEST(ScsiCdRom, FixedSenseHasTheSpcLayout) {
  auto sense = CdRom::fixed_sense({0x05, 0x24, 0x01});
  EXPECT_EQ(sense[0], 0x70);
  EXPECT_EQ(sense[2], 0x05);
  EXPECT_EQ(sense[7], 10);
  EXPECT_EQ(sense[12], 0x24);
  EXPECT_EQ(sense[13], 0x01);
}

TEST(ScsiCdRom, PowerOnUnitAttentionIsReportedOnce) {
  CdRom cdrom(kMediaBytes);
  EXPECT_TRUE(cdrom.unit_attention_pending());
  auto first = run(cdrom, {0x00, 0, 0, 0, 0, 0});
  EXPECT_EQ(first.status, Status::check_condition);
  EXPECT_EQ(first.sense, kSensePowerOnReset);
  EXPECT_EQ(run(cdrom, {0x00, 0, 0, 0, 0, 0}).status, Status::good);
}

TEST(ScsiCdRom, ReadsWaitBehindTheUnitAttention) {
  CdRom cdrom(kMediaBytes);
  auto read = run(cdrom, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0});
  EXPECT_EQ(read.sense, kSensePowerOnReset);
  EXPECT_FALSE(read.read.has_value());
  EXPECT_TRUE(run(cdrom, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}).read.has_value());
}

TEST(ScsiCdRom, InquiryConfigurationAndEventsPassAUnitAttentionAndLeaveIt) {
  CdRom cdrom(kMediaBytes);
  EXPECT_EQ(run(cdrom, {0x12, 0, 0, 0, 36, 0}).status, Status::good);
  EXPECT_EQ(run(cdrom, {0x46, 0, 0, 0, 0, 0, 0, 0, 40, 0}).status, Status::good);
  EXPECT_EQ(run(cdrom, {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0}).status, Status::good);
  EXPECT_TRUE(cdrom.unit_attention_pending());
  EXPECT_EQ(run(cdrom, {0x00, 0, 0, 0, 0, 0}).sense, kSensePowerOnReset);
}

TEST(ScsiCdRom, RequestSenseReturnsThePendingUnitAttentionWithGoodStatus) {
  CdRom cdrom(kMediaBytes);
  auto sense = run(cdrom, {0x03, 0, 0, 0, 18, 0});
  EXPECT_EQ(sense.status, Status::good);
  ASSERT_EQ(sense.data.size(), 18u);
  EXPECT_EQ(sense.data[2], 0x06);
  EXPECT_EQ(sense.data[12], 0x29);
  EXPECT_FALSE(cdrom.unit_attention_pending());
  EXPECT_EQ(run(cdrom, {0x00, 0, 0, 0, 0, 0}).status, Status::good);
}

TEST(ScsiCdRom, RequestSenseReturnsTheLastFailureOnceThenNoSense) {
  CdRom cdrom = ready();
  auto read = run(cdrom, {0x28, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0});
  EXPECT_EQ(read.sense, kSenseLbaOutOfRange);
  auto sense = run(cdrom, {0x03, 0, 0, 0, 252, 0});
  ASSERT_EQ(sense.data.size(), 18u) << "fixed format is 18 bytes whatever the allocation";
  EXPECT_EQ(sense.data[2], 0x05);
  EXPECT_EQ(sense.data[12], 0x21);
  auto again = run(cdrom, {0x03, 0, 0, 0, 18, 0});
  ASSERT_EQ(again.data.size(), 18u);
  EXPECT_EQ(again.data[0], 0x70);
  EXPECT_EQ(again.data[2], 0x00);
  EXPECT_EQ(again.data[12], 0x00);
}

TEST(ScsiCdRom, AGoodCommandClearsTheLastSense) {
  CdRom cdrom = ready();
  EXPECT_EQ(run(cdrom, {0xff, 0, 0, 0, 0, 0}).sense, kSenseInvalidOpcode);
  EXPECT_EQ(run(cdrom, {0x00, 0, 0, 0, 0, 0}).status, Status::good);
  EXPECT_EQ(run(cdrom, {0x03, 0, 0, 0, 18, 0}).data[12], 0x00);
}

TEST(ScsiCdRom, RequestSenseHonoursAllocationLengthAndDescriptorFormat) {
  CdRom cdrom = ready();
  run(cdrom, {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0});  // a write: DATA PROTECT
  EXPECT_EQ(run(cdrom, {0x03, 0, 0, 0, 8, 0}).data.size(), 8u);
  run(cdrom, {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0});
  auto descriptor = run(cdrom, {0x03, 0x01, 0, 0, 255, 0});
  EXPECT_EQ(descriptor.data, (std::vector<uint8_t>{0x72, 0x07, 0x27, 0x00, 0, 0, 0, 0}));
  EXPECT_TRUE(run(cdrom, {0x03, 0, 0, 0, 0, 0}).data.empty()) << "allocation length 0";
}

TEST(ScsiCdRom, ResetQueuesAUnitAttentionAndUnlocks) {
  CdRom cdrom = ready();
  run(cdrom, {0x1e, 0, 0, 0, 1, 0});
  EXPECT_TRUE(cdrom.locked());
  cdrom.reset();
  EXPECT_FALSE(cdrom.locked());
  EXPECT_EQ(run(cdrom, {0x00, 0, 0, 0, 0, 0}).sense, kSensePowerOnReset);
  EXPECT_EQ(run(cdrom, {0x00, 0, 0, 0, 0, 0}).status, Status::good);
  cdrom.reset();
  cdrom.clear_unit_attention();
  EXPECT_EQ(run(cdrom, {0x00, 0, 0, 0, 0, 0}).status, Status::good);
}

TEST(ScsiCdRom, StandardInquiryDescribesARemovableCdDrive) {
  CdRom cdrom(kMediaBytes, "2.5");
  auto inquiry = run(cdrom, {0x12, 0, 0, 0, 96, 0});
  ASSERT_EQ(inquiry.data.size(), 36u);
  EXPECT_EQ(inquiry.data[0], 0x05) << "qualifier 0, type 5: CD/DVD";
  EXPECT_EQ(inquiry.data[1], 0x80) << "removable";
  EXPECT_EQ(inquiry.data[2], 0x05) << "SPC-3";
  EXPECT_EQ(inquiry.data[3] & 0x0f, 2);
  EXPECT_EQ(inquiry.data[4], 31);
  EXPECT_EQ(std::string(inquiry.data.begin() + 8, inquiry.data.begin() + 36),
            "HAVEN   Haven CD-ROM    2.5 ");
  EXPECT_EQ(run(cdrom, {0x12, 0, 0, 0, 5, 0}).data.size(), 5u);
  EXPECT_EQ(run(cdrom, {0x12, 0, 0, 0x01, 0x00, 0}).data.size(), 36u) << "two-byte allocation";
  EXPECT_EQ(run(cdrom, {0x12, 0, 0x83, 0, 36, 0}).sense, kSenseInvalidField) << "page, no EVPD";
  EXPECT_EQ(run(cdrom, {0x12, 0x02, 0, 0, 36, 0}).sense, kSenseInvalidField) << "CMDDT";
}

TEST(ScsiCdRom, VitalProductDataHasTheSupportedPagesAndAnAsciiIdentifier) {
  CdRom cdrom = ready();
  auto pages = run(cdrom, {0x12, 0x01, 0x00, 0, 255, 0});
  EXPECT_EQ(pages.data, (std::vector<uint8_t>{0x05, 0x00, 0x00, 0x02, 0x00, 0x83}));
  auto id = run(cdrom, {0x12, 0x01, 0x83, 0, 255, 0});
  ASSERT_GE(id.data.size(), 8u);
  EXPECT_EQ(id.data[1], 0x83);
  EXPECT_EQ(id.data[3] + 4u, id.data.size()) << "page length";
  EXPECT_EQ(id.data[4] & 0x0f, 2) << "code set: ASCII";
  EXPECT_EQ(id.data[7] + 8u, id.data.size()) << "designator length";
  EXPECT_EQ(std::string(id.data.begin() + 8, id.data.end()), "HAVEN   Haven CD-ROM");
  EXPECT_EQ(run(cdrom, {0x12, 0x01, 0x80, 0, 255, 0}).sense, kSenseInvalidField) << "no serial";
  EXPECT_EQ(run(cdrom, {0x12, 0x01, 0x83, 0, 6, 0}).data.size(), 6u);
}

TEST(ScsiCdRom, ReadCapacityTenGivesTheLastBlockAndItsSize) {
  CdRom cdrom = ready();
  auto capacity = run(cdrom, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(capacity.data, (std::vector<uint8_t>{0, 0, 0, kMediaBlocks - 1, 0, 0, 0x08, 0}));
  EXPECT_EQ(run(cdrom, {0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}).sense, kSenseInvalidField)
      << "an LBA without PMI";
  EXPECT_EQ(run(cdrom, {0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0}).status, Status::good);
  CdRom huge = ready(uint64_t{1} << 45);  // 2^34 blocks
  EXPECT_EQ(run(huge, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}).data,
            (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff, 0, 0, 0x08, 0}));
  CdRom empty = ready(1000);  // less than a block
  EXPECT_EQ(run(empty, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}).sense, kSenseLunNotReady);
}

TEST(ScsiCdRom, ReadCapacitySixteenGivesTheFullLastBlock) {
  CdRom huge = ready(uint64_t{1} << 45);
  std::vector<uint8_t> cdb = {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0};
  auto capacity = huge.execute(cdb);
  ASSERT_EQ(capacity.data.size(), 32u);
  EXPECT_EQ(load_be64(capacity.data, 0), (uint64_t{1} << 34) - 1);
  EXPECT_EQ(load_be32(capacity.data, 8), 2048u);
  cdb[13] = 12;
  EXPECT_EQ(huge.execute(cdb).data.size(), 12u);
  cdb[10] = cdb[11] = cdb[12] = cdb[13] = 0xff;  // 4 GiB of allocation: still 32 bytes
  EXPECT_EQ(huge.execute(cdb).data.size(), 32u);
  cdb[1] = 0x11;  // another service action
  EXPECT_EQ(huge.execute(cdb).sense, kSenseInvalidField);
}

TEST(ScsiCdRom, EveryReadSizeMapsToTheImage) {
  CdRom cdrom = ready(1000 * 2048);
  auto range = [&](std::vector<uint8_t> cdb) {
    auto response = cdrom.execute(cdb);
    EXPECT_EQ(response.status, Status::good);
    EXPECT_TRUE(response.data.empty());
    return response.read.value_or(MediaRead{~0ull, ~0ull});
  };
  auto read6 = range({0x08, 0x00, 0x01, 0x02, 3, 0});
  EXPECT_EQ(read6.offset, 0x102u * 2048);
  EXPECT_EQ(read6.length, 3u * 2048);
  EXPECT_EQ(range({0x08, 0, 0, 5, 0, 0}).length, 256u * 2048) << "READ(6): 0 means 256";
  auto read10 = range({0x28, 0, 0, 0, 0x01, 0x10, 0, 0, 32, 0});
  EXPECT_EQ(read10.offset, 0x110u * 2048);
  EXPECT_EQ(read10.length, 32u * 2048);
  auto read12 = range({0xa8, 0, 0, 0, 0, 17, 0, 0, 0, 2, 0, 0});
  EXPECT_EQ(read12.offset, 17u * 2048);
  EXPECT_EQ(read12.length, 2u * 2048);
  auto read16 = range({0x88, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0xe7, 0, 0, 0, 1, 0, 0});
  EXPECT_EQ(read16.offset, 999u * 2048) << "the last block; FUA is ignored";
  EXPECT_EQ(read16.length, 2048u);
}

TEST(ScsiCdRom, ReadsOutsideTheMediumFail) {
  CdRom cdrom = ready();
  auto read = [&](uint64_t lba, uint32_t count) {
    std::vector<uint8_t> cdb(16, 0);
    cdb[0] = 0x88;
    store_be64(cdb, 2, lba);
    store_be32(cdb, 10, count);
    return cdrom.execute(cdb);
  };
  EXPECT_EQ(read(kMediaBlocks - 1, 2).sense, kSenseLbaOutOfRange);
  EXPECT_EQ(read(kMediaBlocks, 1).sense, kSenseLbaOutOfRange);
  EXPECT_EQ(read(~uint64_t{0}, 2).sense, kSenseLbaOutOfRange) << "a wrapping sum";
  EXPECT_EQ(read(kMediaBlocks + 1, 0).sense, kSenseLbaOutOfRange);
  auto empty = read(kMediaBlocks, 0);
  EXPECT_EQ(empty.status, Status::good) << "zero blocks right after the end";
  EXPECT_FALSE(empty.read.has_value());
  EXPECT_EQ(read(0, kMediaBlocks).read->length, kMediaBytes);
}

TEST(ScsiCdRom, ReadProtectionAndOversizedReadsAreInvalidFields) {
  CdRom cdrom = ready();
  EXPECT_EQ(run(cdrom, {0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0}).sense, kSenseInvalidField);
  EXPECT_EQ(run(cdrom, {0x08, 0x80, 0, 0, 1, 0}).sense, kSenseInvalidField);
  CdRom limited(kMediaBytes, "1.0", 4 * 2048);
  run(limited, {0x00, 0, 0, 0, 0, 0});
  EXPECT_TRUE(run(limited, {0x28, 0, 0, 0, 0, 0, 0, 0, 4, 0}).read.has_value());
  EXPECT_EQ(run(limited, {0x28, 0, 0, 0, 0, 0, 0, 0, 5, 0}).sense, kSenseInvalidField);
}

TEST(ScsiCdRom, WritesFindTheMediumWriteProtected) {
  CdRom cdrom = ready();
  for (uint8_t op : {0x0a, 0x2a, 0xaa, 0x8a, 0x2e, 0xae, 0x8e}) {
    std::vector<uint8_t> cdb(cdb_length(op), 0);
    cdb[0] = op;
    EXPECT_EQ(cdrom.execute(cdb).sense, kSenseWriteProtected) << int{op};
  }
}

TEST(ScsiCdRom, UnknownShortAndUnparsableCdbsAreInvalidOpcodes) {
  CdRom cdrom = ready();
  EXPECT_EQ(cdrom.execute({}).sense, kSenseInvalidOpcode);
  EXPECT_EQ(run(cdrom, {0x28, 0, 0, 0, 0, 0}).sense, kSenseInvalidOpcode) << "READ(10) in 6 bytes";
  for (int op : {0x3b, 0x35, 0x60, 0x7e, 0x7f, 0xc0, 0xe5, 0xff}) {
    std::vector<uint8_t> cdb(32, 0);
    cdb[0] = static_cast<uint8_t>(op);
    EXPECT_EQ(cdrom.execute(cdb).sense, kSenseInvalidOpcode) << op;
  }
  CdRom fresh(kMediaBytes);
  EXPECT_EQ(run(fresh, {0x28, 0}).sense, kSenseInvalidOpcode);
  EXPECT_TRUE(fresh.unit_attention_pending()) << "an unparsable CDB leaves the attention";
}

TEST(ScsiCdRom, HostileCdbsGetBoundedAnswersAndNeverReadOffTheMedium) {
  CdRom cdrom = ready();
  for (int op = 0; op < 256; ++op) {
    for (uint8_t fill : {0x00, 0x01, 0x7f, 0xff}) {
      std::vector<uint8_t> cdb(32, fill);
      cdb[0] = static_cast<uint8_t>(op);
      auto response = cdrom.execute(cdb);
      EXPECT_LE(response.data.size(), CdRom::kMaxResponseBytes) << op;
      if (response.status != Status::good) {
        EXPECT_TRUE(response.data.empty() && !response.read) << op;
        EXPECT_NE(response.sense.key, 0) << op;
      }
      if (response.read) {
        EXPECT_LE(response.read->offset + response.read->length, kMediaBytes) << op;
      }
    }
  }
}

TEST(ScsiCdRom, ReadFailedIsAMediumErrorRequestSenseReports) {
  CdRom cdrom = ready();
  EXPECT_EQ(cdrom.read_failed().sense, kSenseUnrecoveredReadError);
  EXPECT_EQ(run(cdrom, {0x03, 0, 0, 0, 18, 0}).data[2], 0x03);
}

TEST(ScsiCdRom, StartStopEjectsOnlyWhenUnlockedAndTheMediumStays) {
  CdRom cdrom = ready();
  EXPECT_EQ(run(cdrom, {0x1e, 0, 0, 0, 1, 0}).status, Status::good);
  EXPECT_EQ(run(cdrom, {0x1b, 0, 0, 0, 0x02, 0}).sense, kSenseRemovalPrevented);
  EXPECT_EQ(run(cdrom, {0x1b, 0, 0, 0, 0x03, 0}).status, Status::good) << "load";
  EXPECT_EQ(run(cdrom, {0x1b, 0, 0, 0, 0x32, 0}).status, Status::good) << "power condition";
  EXPECT_EQ(run(cdrom, {0x1e, 0, 0, 0, 0, 0}).status, Status::good);
  EXPECT_FALSE(cdrom.locked());
  EXPECT_EQ(run(cdrom, {0x1b, 0, 0, 0, 0x02, 0}).status, Status::good);
  EXPECT_EQ(run(cdrom, {0x00, 0, 0, 0, 0, 0}).status, Status::good) << "still there";
  EXPECT_TRUE(run(cdrom, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}).read.has_value());
}

TEST(ScsiCdRom, SetCdSpeedIsAccepted) {
  CdRom cdrom = ready();
  EXPECT_EQ(run(cdrom, {0xbb, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0}).status, Status::good);
}

}  // namespace
}  // namespace haven::devices::scsi
