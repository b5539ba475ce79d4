#include "devices/virtio/scsi.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "virtio_scsi_fixture.h"

namespace haven::devices::virtio {
namespace {

using scsi_test::Command;
using scsi_test::kImageBytes;
using scsi_test::lun_field;
using scsi_test::Reply;
using scsi_test::ScsiTest;

const std::vector<uint8_t> kTestUnitReady = {0x00, 0, 0, 0, 0, 0};

std::vector<uint8_t> read10(uint32_t lba, uint16_t blocks) {
  return {0x28,
          0,
          static_cast<uint8_t>(lba >> 24),
          static_cast<uint8_t>(lba >> 16),
          static_cast<uint8_t>(lba >> 8),
          static_cast<uint8_t>(lba),
          0,
          static_cast<uint8_t>(blocks >> 8),
          static_cast<uint8_t>(blocks),
          0};
}

uint32_t config_u32(Scsi& scsi, uint64_t offset) {
  std::array<uint8_t, 4> bytes{};
  scsi.read_config(offset, bytes);
  uint32_t value = 0;
  std::memcpy(&value, bytes.data(), 4);
  return value;
}

TEST_F(ScsiTest, OffersOneTargetWithOneLunAndDefaultSizes) {
  open();
  EXPECT_EQ(m_scsi->type(), DeviceType::scsi);
  EXPECT_EQ(m_scsi->pci_class(), 0x010000u);
  EXPECT_EQ(m_scsi->queue_sizes(), (std::vector<uint16_t>{128, 128, 128}));
  EXPECT_EQ(m_scsi->media_bytes(), kImageBytes);
  EXPECT_EQ(config_u32(*m_scsi, 0), 1u) << "num_queues";
  EXPECT_EQ(config_u32(*m_scsi, 4), 126u) << "seg_max";
  EXPECT_EQ(config_u32(*m_scsi, 8), Scsi::kMaxSectors);
  EXPECT_EQ(config_u32(*m_scsi, 12), 128u) << "cmd_per_lun";
  EXPECT_EQ(config_u32(*m_scsi, 16), 16u) << "event_info_size";
  EXPECT_EQ(config_u32(*m_scsi, 20), 96u) << "sense_size";
  EXPECT_EQ(config_u32(*m_scsi, 24), 32u) << "cdb_size";
  EXPECT_EQ(config_u32(*m_scsi, 28), 0u) << "max_channel, max_target";
  EXPECT_EQ(config_u32(*m_scsi, 32), 0u) << "max_lun";
}

TEST_F(ScsiTest, SenseAndCdbSizesAreWritableUntilReset) {
  open();
  std::array<uint8_t, 4> sense_size = {64, 0, 0, 0};
  m_scsi->write_config(20, sense_size);
  std::array<uint8_t, 1> cdb_size = {16};
  m_scsi->write_config(24, cdb_size);
  std::array<uint8_t, 4> num_queues = {9, 9, 9, 9};
  m_scsi->write_config(0, num_queues);
  EXPECT_EQ(config_u32(*m_scsi, 20), 64u);
  EXPECT_EQ(config_u32(*m_scsi, 24), 16u);
  EXPECT_EQ(config_u32(*m_scsi, 0), 1u) << "read-only";
  m_scsi->reset();
  EXPECT_EQ(config_u32(*m_scsi, 20), 96u);
  EXPECT_EQ(config_u32(*m_scsi, 24), 32u);
}

TEST_F(ScsiTest, TheFirstCommandGetsThePowerOnUnitAttentionByAutosense) {
  open();
  Reply first = run({kTestUnitReady});
  EXPECT_EQ(first.response, Scsi::kResponseOk);
  EXPECT_EQ(first.status, 0x02) << "CHECK CONDITION";
  EXPECT_EQ(first.sense_len, 18u);
  EXPECT_EQ(first.sense[0], 0x70);
  EXPECT_EQ(first.sense[2], 0x06);
  EXPECT_EQ(first.sense[12], 0x29);
  EXPECT_EQ(first.used_length, 108u);
  Reply second = run({kTestUnitReady});
  EXPECT_EQ(second.status, 0x00);
  EXPECT_EQ(second.sense_len, 0u);
}

TEST_F(ScsiTest, InquiryAnswersTheDriveAndTheResidualCountsWhatWasLeft) {
  open();
  Reply inquiry = run({{0x12, 0, 0, 0, 96, 0}, 96});
  EXPECT_EQ(inquiry.response, Scsi::kResponseOk);
  EXPECT_EQ(inquiry.status, 0x00);
  EXPECT_EQ(inquiry.resid, 96u - 36u);
  EXPECT_EQ(inquiry.used_length, 108u + 36u);
  EXPECT_EQ(inquiry.data[0], 0x05);
  EXPECT_EQ(std::string(inquiry.data.begin() + 8, inquiry.data.begin() + 13), "HAVEN");
  EXPECT_EQ(inquiry.data[36], 0xcc) << "nothing past the answer";
}

TEST_F(ScsiTest, ReportLunsListsLunZero) {
  open();
  Reply luns = run({{0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}, 16});
  EXPECT_EQ(luns.status, 0x00) << "REPORT LUNS passes the unit attention";
  EXPECT_EQ(luns.data, (std::vector<uint8_t>{0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(luns.resid, 0u);
  Reply too_small = run({{0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, 8});
  EXPECT_EQ(too_small.status, 0x02);
  EXPECT_EQ(too_small.sense[12], 0x24);
}

TEST_F(ScsiTest, Read10DeliversTheImageBytesIntoScatteredBuffers) {
  open();
  run({kTestUnitReady});  // the unit attention
  Command read = {read10(3, 2), 2 * 2048};
  read.split = true;
  Reply reply = run(read);
  EXPECT_EQ(reply.response, Scsi::kResponseOk);
  EXPECT_EQ(reply.status, 0x00);
  EXPECT_EQ(reply.resid, 0u);
  EXPECT_EQ(reply.used_length, 108u + 4096u);
  EXPECT_EQ(reply.data, image_bytes(3 * 2048, 4096));
  EXPECT_EQ(m_scsi->counters()["read_bytes"], 4096u);
  EXPECT_EQ(m_scsi->counters()["requests"], 2u);
}

TEST_F(ScsiTest, EveryAbsentTargetAnswersBadTargetAtOnce) {
  open();
  // As SeaBIOS probes: REPORT LUNS to each target, all in flight together.
  constexpr uint32_t kTargets = 40;
  std::vector<Command> commands;
  for (uint32_t t = 1; t <= kTargets; ++t) {
    commands.push_back({{0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}, 16});
    commands.back().lun = lun_field(static_cast<uint8_t>(t), 0);
    publish(commands.back(), t - 1);
  }
  kick(Scsi::kRequestQueue);
  auto used = wait_used(*m_request, kTargets);
  ASSERT_EQ(used.size(), kTargets);
  for (uint32_t t = 1; t <= kTargets; ++t)
    EXPECT_EQ(reply(t - 1, commands[t - 1], 0).response, Scsi::kResponseBadTarget) << t;
  Command malformed = {{0x12, 0, 0, 0, 36, 0}, 36};
  malformed.lun = {2, 0, 0x40, 0, 0, 0, 0, 0};
  EXPECT_EQ(run(malformed).response, Scsi::kResponseBadTarget);
  malformed.lun = {1, 0, 0x80, 0, 0, 0, 0, 0};  // not flat space addressing
  EXPECT_EQ(run(malformed).response, Scsi::kResponseBadTarget);
  EXPECT_FALSE(failed());
}

TEST_F(ScsiTest, AnAbsentLunOnTargetZeroIsNotSupported) {
  open();
  Command inquiry = {{0x12, 0, 0, 0, 36, 0}, 36};
  inquiry.lun = lun_field(0, 3);
  Reply reply = run(inquiry);
  EXPECT_EQ(reply.response, Scsi::kResponseOk);
  EXPECT_EQ(reply.status, 0x00);
  EXPECT_EQ(reply.data[0], 0x7f) << "qualifier 3, type 0x1f";
  Command ready = {kTestUnitReady};
  ready.lun = lun_field(0, 3);
  Reply refused = run(ready);
  EXPECT_EQ(refused.status, 0x02);
  EXPECT_EQ(refused.sense[2], 0x05);
  EXPECT_EQ(refused.sense[12], 0x25);
  Command sense = {{0x03, 0, 0, 0, 18, 0}, 18};
  sense.lun = lun_field(0, 3);
  Reply answered = run(sense);
  EXPECT_EQ(answered.status, 0x00);
  EXPECT_EQ(answered.data[12], 0x25);
}

TEST_F(ScsiTest, AReadPastTheEndFailsWithAutosenseAndRequestSenseRepeatsIt) {
  open();
  run({kTestUnitReady});
  Reply reply = run({read10(kImageBytes / 2048, 1), 2048});
  EXPECT_EQ(reply.response, Scsi::kResponseOk);
  EXPECT_EQ(reply.status, 0x02);
  EXPECT_EQ(reply.sense_len, 18u);
  EXPECT_EQ(reply.sense[2], 0x05);
  EXPECT_EQ(reply.sense[12], 0x21);
  EXPECT_EQ(reply.resid, 2048u) << "nothing transferred";
  EXPECT_EQ(reply.data, std::vector<uint8_t>(2048, 0xcc));
  Reply sense = run({{0x03, 0, 0, 0, 18, 0}, 18});
  EXPECT_EQ(sense.status, 0x00);
  EXPECT_EQ(sense.data[12], 0x21);
}

TEST_F(ScsiTest, DataBeyondTheBuffersIsAnOverrunWithWhatFitted) {
  open();
  run({kTestUnitReady});
  Reply read = run({read10(1, 2), 2048});
  EXPECT_EQ(read.response, Scsi::kResponseOverrun);
  EXPECT_EQ(read.resid, 0u);
  EXPECT_EQ(read.data, image_bytes(2048, 2048));
  EXPECT_EQ(read.used_length, 108u + 2048u);
  Reply inquiry = run({{0x12, 0, 0, 0, 36, 0}, 8});
  EXPECT_EQ(inquiry.response, Scsi::kResponseOverrun);
  EXPECT_EQ(inquiry.data[0], 0x05);
  Reply fits = run({read10(1, 1), 3000});
  EXPECT_EQ(fits.response, Scsi::kResponseOk);
  EXPECT_EQ(fits.resid, 3000u - 2048u) << "a buffer larger than the data";
}

TEST_F(ScsiTest, AResponseHeaderThatDoesNotFitBreaksTheDeviceAndResetRevivesIt) {
  open();
  Command command = {kTestUnitReady};
  command.response_bytes = 100;  // 8 short of the 108-byte header
  publish(command);
  kick(Scsi::kRequestQueue);
  wait_used(*m_request, 1);
  EXPECT_TRUE(failed());
  EXPECT_NE(failure().find("header"), std::string::npos) << failure();
  m_scsi->reset();
  clear_failure();
  activate();
  EXPECT_EQ(run({kTestUnitReady}).status, 0x02) << "a reset brings the unit attention back";
  EXPECT_EQ(run({kTestUnitReady}).status, 0x00);
  EXPECT_FALSE(failed());
}

TEST_F(ScsiTest, ARequestHeaderThatDoesNotFitBreaksTheDevice) {
  open();
  Command command = {kTestUnitReady};
  command.request_bytes = 40;
  publish(command);
  kick(Scsi::kRequestQueue);
  wait_used(*m_request, 1);
  EXPECT_TRUE(failed());
}

TEST_F(ScsiTest, HeadersFollowTheSizesTheDriverSet) {
  m_scsi = Scsi::open(m_path).value();
  std::array<uint8_t, 4> sense_size = {20, 0, 0, 0}, cdb_size = {16, 0, 0, 0};
  m_scsi->write_config(20, sense_size);
  m_scsi->write_config(24, cdb_size);
  activate();
  Command command = {kTestUnitReady};
  command.request_bytes = 19 + 16;
  command.response_bytes = 12 + 20;
  Reply reply = run(command);
  EXPECT_EQ(reply.status, 0x02);
  EXPECT_EQ(reply.sense_len, 18u);
  EXPECT_EQ(reply.used_length, 32u);
  m_scsi->write_config(20, std::array<uint8_t, 4>{4, 0, 0, 0});
  Reply cut = run(command);
  EXPECT_EQ(cut.status, 0x00) << "the attention went";
  Command bad = {read10(1000, 1), 2048};
  bad.request_bytes = 35;
  bad.response_bytes = 16 + 2048;
  Reply truncated = run(bad);
  EXPECT_EQ(truncated.sense_len, 4u) << "the sense cut to sense_size";
}

TEST_F(ScsiTest, DataBothWaysFailsAndAWriteIsRefused) {
  open();
  run({kTestUnitReady});
  Command both = {read10(0, 1), 2048};
  both.data_out = 512;
  EXPECT_EQ(run(both).response, Scsi::kResponseFailure);
  Command write = {{0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}};
  write.data_out = 2048;
  Reply refused = run(write);
  EXPECT_EQ(refused.response, Scsi::kResponseOk);
  EXPECT_EQ(refused.status, 0x02);
  EXPECT_EQ(refused.sense[2], 0x07) << "DATA PROTECT";
}

std::vector<uint8_t> tmf(uint32_t function, std::array<uint8_t, 8> lun) {
  std::vector<uint8_t> request(24, 0);
  std::memcpy(request.data() + 4, &function, 4);
  std::copy(lun.begin(), lun.end(), request.begin() + 8);
  return request;
}

TEST_F(ScsiTest, TaskManagementOnTheControlQueue) {
  open();
  run({kTestUnitReady});
  EXPECT_EQ(control(tmf(Scsi::kTmfAbortTask, lun_field(0, 0)), 1)[0], Scsi::kResponseOk);
  EXPECT_EQ(run({kTestUnitReady}).status, 0x00) << "an abort finds nothing and resets nothing";
  EXPECT_EQ(control(tmf(Scsi::kTmfLogicalUnitReset, lun_field(0, 0)), 1)[0], Scsi::kResponseOk);
  EXPECT_EQ(run({kTestUnitReady}).sense[12], 0x29) << "the reset's unit attention";
  EXPECT_EQ(control(tmf(Scsi::kTmfLogicalUnitReset, lun_field(7, 0)), 1)[0],
            Scsi::kResponseBadTarget);
  EXPECT_EQ(control(tmf(Scsi::kTmfAbortTask, lun_field(0, 2)), 1)[0], Scsi::kResponseIncorrectLun);
  EXPECT_EQ(control(tmf(Scsi::kTmfClearAca, lun_field(0, 0)), 1)[0],
            Scsi::kResponseFunctionRejected);
  std::vector<uint8_t> query(16, 0);
  query[0] = Scsi::kControlAnQuery;
  query[12] = 0xff;  // every event class
  EXPECT_EQ(control(query, 5), std::vector<uint8_t>(5, 0)) << "event_actual 0, response OK";
  EXPECT_FALSE(failed());
  // A TMF without its LUN and id: the ring is broken.
  m_control->add_chain({{scsi_test::kRequests, 8, false}, {scsi_test::kResponses, 1, true}});
  kick(Scsi::kControlQueue);
  wait_used(*m_control, 1);
  EXPECT_TRUE(failed());
}

TEST_F(ScsiTest, ARestoredDeviceDoesNotRepeatTheUnitAttention) {
  open();
  run({kTestUnitReady});
  m_scsi->pause();
  auto positions = m_scsi->queue_positions();
  ASSERT_TRUE(positions[2].has_value());
  // A new process: a new device, the queues carried on from the snapshot.
  m_scsi = Scsi::open(m_path).value();
  activate(positions);
  EXPECT_EQ(run({kTestUnitReady}).status, 0x00);
  // A fresh start does report it.
  m_scsi = Scsi::open(m_path).value();
  activate();
  EXPECT_EQ(run({kTestUnitReady}).status, 0x02);
}

TEST_F(ScsiTest, OpenRefusesWhatIsNoImage) {
  EXPECT_FALSE(Scsi::open(m_path + ".missing"));
  EXPECT_FALSE(Scsi::open(::testing::TempDir())) << "a directory";
  ASSERT_EQ(::truncate(m_path.c_str(), 1000), 0);
  auto empty = Scsi::open(m_path);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("empty"), std::string::npos);
}

}  // namespace
}  // namespace haven::devices::virtio
