#include "vmm/control_protocol.h"

#include <gtest/gtest.h>

namespace haven::vmm::control {
namespace {

using nlohmann::json;

TEST(ControlProtocol, EveryOpIsKnownByTheNameItIsSentWith) {
  for (Op op : {Op::status, Op::stats, Op::pause, Op::resume, Op::power_button, Op::snapshot,
                Op::fill, Op::backup_begin, Op::backup_end}) {
    json sent = request(op);
    EXPECT_EQ(sent["version"], kVersion);
    auto read = op_of(sent);
    ASSERT_TRUE(read) << sent.dump() << ": " << read.error().message();
    EXPECT_EQ(*read, op) << sent.dump();
  }
}

TEST(ControlProtocol, AnotherVersionOrAnUnknownOpIsRefusedNamingTheField) {
  auto newer = op_of({{"op", "pause"}, {"version", kVersion + 1}});
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().field(), "version");
  EXPECT_EQ(newer.error().kind(), ErrorKind::internal) << "a VMM too old is not the caller's fault";
  EXPECT_FALSE(op_of({{"op", "pause"}, {"version", 0}}));
  auto unknown = op_of({{"op", "explode"}, {"version", kVersion}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().field(), "op");
  EXPECT_FALSE(op_of({{"version", kVersion}}));
  EXPECT_FALSE(op_of(json::array()));
  // A request from before versions still names its op.
  EXPECT_EQ(op_of({{"op", "status"}}).value(), Op::status);
}

TEST(ControlProtocol, RequestsAndAnswersRoundTrip) {
  BackupBeginRequest begin{
      {{0, "/r/s0", "/r/d0", "repo/snap", 65536}, {2, "/r/s2", "/r/d2", "", 4096}}, "/r/nvram"};
  auto begin_read = backup_begin_request_from_json(to_json(begin));
  ASSERT_TRUE(begin_read) << begin_read.error().message();
  ASSERT_EQ(begin_read->disks.size(), 2u);
  EXPECT_EQ(begin_read->disks[1].disk, 2u);
  EXPECT_EQ(begin_read->disks[0].baseline, "repo/snap");
  EXPECT_EQ(begin_read->disks[0].granularity, 65536u);
  EXPECT_EQ(begin_read->nvram, "/r/nvram");
  EXPECT_EQ(op_of(to_json(begin)).value(), Op::backup_begin);

  BackupBeginAnswer views{{{true, 1 << 30, 65536, 12, "/img/a.raw"}}, ""};
  auto views_read = backup_begin_answer_from_json(to_json(views));
  ASSERT_TRUE(views_read) << views_read.error().message();
  ASSERT_EQ(views_read->views.size(), 1u);
  EXPECT_TRUE(views_read->views[0].incremental);
  EXPECT_EQ(views_read->views[0].disk_bytes, 1u << 30);
  EXPECT_EQ(views_read->views[0].wanted_blocks, 12u);
  EXPECT_EQ(views_read->views[0].path, "/img/a.raw");

  auto end_read = backup_end_request_from_json(to_json(BackupEndRequest{1, true, "r/s"}));
  ASSERT_TRUE(end_read);
  EXPECT_EQ(end_read->disk, 1u);
  EXPECT_TRUE(end_read->commit);
  EXPECT_EQ(end_read->baseline, "r/s");

  auto snapshot_read = snapshot_request_from_json(to_json(SnapshotRequest{"/snap"}));
  ASSERT_TRUE(snapshot_read);
  EXPECT_EQ(snapshot_read->dir, "/snap");
  auto taken = snapshot_answer_from_json(to_json(SnapshotAnswer{1 << 20, 3 << 20, 1.5, 9.25}));
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->disk_bytes, 3u << 20);
  EXPECT_DOUBLE_EQ(taken->total_ms, 9.25);

  EXPECT_TRUE(fill_request_from_json(to_json(FillRequest{true})).value().paused);
  EXPECT_EQ(fill_answer_from_json(to_json(FillAnswer{2})).value().disks, 2u);
  auto status = status_answer_from_json(to_json(StatusAnswer{true, kVersion}));
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->paused);
  EXPECT_EQ(status->version, kVersion);
  EXPECT_EQ(status_answer_from_json({{"ok", true}, {"paused", false}}).value().version, 0)
      << "a VMM from before versions";
  // Without a copy wanted, no nvram is sent, and none read is none wanted.
  EXPECT_FALSE(to_json(BackupBeginRequest{{{0, "/s", "/d", "", 4096}}, ""}).contains("nvram"));
}

TEST(ControlProtocol, AMissingOrMistypedFieldIsAnErrorNotADefault) {
  json views = to_json(BackupBeginAnswer{{{false, 4096, 4096, 1, "/a"}}, ""});
  views["views"][0].erase("disk_bytes");
  auto read = backup_begin_answer_from_json(views);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().field(), "disk_bytes");
  EXPECT_EQ(read.error().kind(), ErrorKind::internal) << "a bad answer is the VMM's fault";
  EXPECT_NE(read.error().message().find("disk_bytes"), std::string::npos);

  json taken = to_json(SnapshotAnswer{1, 2, 3, 4});
  taken["memory_bytes"] = "lots";
  EXPECT_FALSE(snapshot_answer_from_json(taken));
  EXPECT_FALSE(snapshot_request_from_json(to_json(SnapshotRequest{"relative"})));
  json no_disks = to_json(BackupBeginRequest{});
  EXPECT_EQ(backup_begin_request_from_json(no_disks).error().field(), "disks");
  json no_state = to_json(BackupBeginRequest{{{0, "", "/d", "", 4096}}, ""});
  EXPECT_FALSE(backup_begin_request_from_json(no_state));
  json zero_grain = to_json(BackupBeginAnswer{{{false, 4096, 0, 1, "/a"}}, ""});
  EXPECT_FALSE(backup_begin_answer_from_json(zero_grain));
  auto bad_commit =
      backup_end_request_from_json({{"disk", 0u}, {"commit", "yes"}, {"baseline", ""}});
  ASSERT_FALSE(bad_commit);
  EXPECT_EQ(bad_commit.error().field(), "commit");
  EXPECT_FALSE(fill_request_from_json(json::object()));
}

}  // namespace
}  // namespace haven::vmm::control
