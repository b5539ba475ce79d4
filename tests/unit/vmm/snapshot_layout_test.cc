#include "vmm/snapshot_layout.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/units.h"

namespace haven::vmm {
namespace {

using json = nlohmann::json;

SnapshotSummary make_summary() {
  SnapshotSummary summary;
  summary.config.firmware = Firmware::uefi;
  summary.config.cpus = 2;
  summary.config.memory = 512 * MiB;
  summary.config.disks = {{"/images/root.img", false, false}, {"/images/seed.iso", true, false}};
  summary.disk_copies = {snapshot_disk_name(0), std::nullopt};
  summary.nvram_copy = kSnapshotNvramName;
  return summary;
}

class SnapshotLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-snapshot-layout-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  void write(const json& doc) {
    std::ofstream(m_dir + "/" + kSnapshotFileName, std::ios::trunc) << doc.dump();
  }

  std::string m_dir;
};

TEST_F(SnapshotLayoutTest, DisksAreNamedByTheirIndex) {
  EXPECT_EQ(snapshot_disk_name(0), "disk-0.img");
  EXPECT_EQ(snapshot_disk_name(12), "disk-12.img");
}

// A document with the summary's fields and the VMM's state in shape: every part there, none
// of it decodable by haven-vmm.
json shaped_document() {
  json doc = snapshot_summary_document(make_summary());
  doc["vm"] = json::object();
  doc["vcpus"] = json::array({json::object(), json::object()});
  doc["devices"] = json::object();
  doc["memory"] = json::array();
  return doc;
}

// havend and the CLI read a snapshot without decoding the VMM's state (haven-vmm does).
TEST_F(SnapshotLayoutTest, TheSummaryDoesNotDecodeTheVmmState) {
  write(shaped_document());
  auto read = read_snapshot_summary(m_dir);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->config.firmware, Firmware::uefi);
  EXPECT_EQ(read->config.cpus, 2u);
  EXPECT_EQ(read->config.memory, 512 * MiB);
  ASSERT_EQ(read->config.disks.size(), 2u);
  EXPECT_EQ(read->disk_copies, make_summary().disk_copies);
  EXPECT_EQ(read->nvram_copy, std::optional<std::string>(kSnapshotNvramName));
}

// ...but a file whose VMM state is missing or out of shape is refused before havend builds a
// guest on it.
TEST_F(SnapshotLayoutTest, TheVmmStateMustBeThereInShape) {
  for (const char* part : {"vm", "vcpus", "devices", "memory"}) {
    json doc = shaped_document();
    doc.erase(part);
    write(doc);
    auto read = read_snapshot_summary(m_dir);
    ASSERT_FALSE(read) << "accepted without '" << part << "'";
    EXPECT_NE(read.error().message().find(part), std::string::npos) << read.error().message();
  }
  json doc = shaped_document();
  doc["vcpus"].push_back(json::object());  // 3 states for 2 vCPUs
  write(doc);
  EXPECT_FALSE(read_snapshot_summary(m_dir));
}

// The id that marks the memory image too: kept as written, refused when not 32 hex digits,
// and absent from snapshots made before it.
TEST_F(SnapshotLayoutTest, TheIdIsThirtyTwoHexDigitsOrAbsent) {
  SnapshotSummary summary = make_summary();
  summary.id = "00112233445566778899aabbccddeeff";
  EXPECT_EQ(snapshot_summary_document(summary)["id"], summary.id);
  json doc = shaped_document();
  doc["id"] = summary.id;
  auto read = parse_snapshot_summary(doc);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->id, summary.id);
  doc.erase("id");
  EXPECT_EQ(parse_snapshot_summary(doc).value().id, "");
  for (json bad : {json("../../x"), json(7), json("00112233445566778899AABBCCDDEEFF"),
                   json("0011223344556677")}) {
    doc["id"] = bad;
    EXPECT_FALSE(parse_snapshot_summary(doc)) << bad;
  }
}

TEST_F(SnapshotLayoutTest, AMissingFileSaysTheSnapshotIsUnfinished) {
  auto read = read_snapshot_summary(m_dir);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message().find("unfinished"), std::string::npos) << read.error().message();
}

TEST_F(SnapshotLayoutTest, ErrorsNameTheFileAndTheField) {
  json doc = shaped_document();
  doc["disk_copies"] = json::array({"../escape.img", nullptr});
  write(doc);
  auto read = read_snapshot_summary(m_dir);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message().find(kSnapshotFileName), std::string::npos)
      << read.error().message();
  EXPECT_NE(read.error().message().find("not a plain file name"), std::string::npos)
      << read.error().message();
}

TEST_F(SnapshotLayoutTest, OddlyTypedHeadersAreErrors) {
  for (json doc : {json::array(), json{{"format", 7}}, json{{"format", "haven-vm-snapshot"}},
                   json{{"format", "haven-vm-snapshot"}, {"version", -1}},
                   json{{"format", "haven-vm-snapshot"}, {"version", "1"}}}) {
    write(doc);
    EXPECT_FALSE(read_snapshot_summary(m_dir)) << doc.dump();
  }
}

}  // namespace
}  // namespace haven::vmm
