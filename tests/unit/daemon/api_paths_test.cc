// The API as a privilege boundary (issue 21): havend runs as root, so no request may make it
// open, write or boot a host file outside the directories it is allowed (havend
// --allow-path). Each refusal is 403 naming the field; nothing is defined, started or written.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "unit/daemon/api_harness.h"

namespace haven::daemon {
namespace {

using nlohmann::json;

class ApiPathsTest : public ApiHarness {
 protected:
  void SetUp() override {
    ApiHarness::SetUp();
    m_images = m_dir + "/images";
    std::filesystem::create_directories(m_images);
    std::ofstream(m_images + "/kernel") << "kernel";
    std::ofstream(m_images + "/disk.img") << "disk";
    m_allowed_paths = {m_images};
  }
  json guest(const std::string& name) const {
    return {{"name", name}, {"kernel", m_images + "/kernel"}, {"memory", "64M"}};
  }
  void expect_forbidden(const Answer& answer, const std::string& field) {
    EXPECT_EQ(answer.status, 403) << answer.body;
    EXPECT_EQ(answer.body.value("field", ""), field) << answer.body;
    EXPECT_NE(answer.body.value("error", "").find("outside the directories havend may use"),
              std::string::npos)
        << answer.body;
  }

  std::string m_images;
};

TEST_F(ApiPathsTest, ADefinitionNamingAHostFileIsRefused) {
  serve();
  json kernel = guest("a");
  kernel["kernel"] = "/etc/shadow";
  expect_forbidden(post("/v1/vms", kernel), "kernel");
  json disk = guest("a");
  disk["disks"] = json::array({{{"path", "/etc/shadow"}}});
  expect_forbidden(post("/v1/vms", disk), "disks[0].path");
  json iso = guest("a");
  iso.erase("kernel");
  iso["firmware"] = "bios";
  iso["cdrom"] = "/etc/passwd";
  expect_forbidden(post("/v1/vms", iso), "cdrom");
  EXPECT_EQ(send("GET", "/v1/vms/a").status, 404) << "nothing defined";
  // Inside: defined; then a host file may not come in through a replacement either.
  json good = guest("a");
  good["disks"] = json::array({{{"path", m_images + "/disk.img"}}});
  ASSERT_EQ(post("/v1/vms", good).status, 201);
  auto replaced = m_client->Put("/v1/vms/a", disk.dump(), "application/json");
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->status, 403) << replaced->body;
  EXPECT_EQ(send("GET", "/v1/vms/a").body["disks"][0].value("path", ""), m_images + "/disk.img");
}

TEST_F(ApiPathsTest, ALinkMadeAfterTheDefinitionIsRefusedAtStart) {
  serve();
  json good = guest("a");
  good["disks"] = json::array({{{"path", m_images + "/disk.img"}}});
  ASSERT_EQ(post("/v1/vms", good).status, 201);
  std::filesystem::remove(m_images + "/disk.img");
  std::filesystem::create_symlink("/etc/shadow", m_images + "/disk.img");
  Answer started = send("POST", "/v1/vms/a/start");
  expect_forbidden(started, "disks[0].path");
  EXPECT_EQ(send("GET", "/v1/vms/a").body.value("state", ""), "stopped");
}

TEST_F(ApiPathsTest, SnapshotsBackupsAndRestoresStayInside) {
  serve();
  ASSERT_EQ(post("/v1/vms", guest("a")).status, 201);
  ASSERT_EQ(send("POST", "/v1/vms/a/start").status, 200);  // a snapshot of a running guest
  // A snapshot written into /etc, or over files that are there.
  expect_forbidden(post("/v1/vms/a/snapshot", {{"dir", "/etc"}}), "dir");
  expect_forbidden(post("/v1/vms/a/snapshot", {{"dir", "/etc/haven-snapshot"}}), "dir");
  Answer full = post("/v1/vms/a/snapshot", {{"dir", m_images}});
  EXPECT_EQ(full.status, 409) << full.body;
  EXPECT_EQ(full.body.value("field", ""), "dir") << full.body;
  Answer dots = post("/v1/vms/a/snapshot", {{"dir", m_images + "/../../etc"}});
  EXPECT_EQ(dots.status, 400) << dots.body;
  expect_forbidden(post("/v1/vms/a/backup", {{"repo", "/etc"}}), "repo");
  expect_forbidden(post("/v1/restore", {{"snapshot", "/etc"}, {"name", "b"}}), "snapshot");
  expect_forbidden(post("/v1/restore", {{"repo", "/etc"}, {"snapshot", "x"}, {"name", "b"}}),
                   "repo");
  EXPECT_EQ(send("GET", "/v1/vms/b").status, 404);
  EXPECT_FALSE(std::filesystem::exists("/etc/haven-snapshot"));
}

// Paths admitted once are checked again before havend or the VMM opens them for a snapshot
// or a backup: a disk that became a link to a host file is not copied into a snapshot.
TEST_F(ApiPathsTest, ADiskThatBecameALinkIsNeitherSnapshottedNorBackedUp) {
  serve();
  json good = guest("a");
  good["disks"] = json::array({{{"path", m_images + "/disk.img"}}});
  ASSERT_EQ(post("/v1/vms", good).status, 201);
  ASSERT_EQ(send("POST", "/v1/vms/a/start").status, 200);
  std::filesystem::remove(m_images + "/disk.img");
  std::filesystem::create_symlink("/etc/shadow", m_images + "/disk.img");
  expect_forbidden(post("/v1/vms/a/snapshot", {{"dir", m_images + "/snap"}}), "disks[0].path");
  expect_forbidden(post("/v1/vms/a/backup", {{"repo", m_images + "/repo"}}), "disks[0].path");
  EXPECT_FALSE(std::filesystem::exists(m_images + "/snap"));
}

// A VM snapshot's guest uses its read-only disks in place: a tampered snapshot.json naming a
// host file is refused before the guest is defined.
TEST_F(ApiPathsTest, ARestoredSnapshotNamingAHostFileIsRefused) {
  serve();
  std::string snap = m_images + "/snap";
  std::filesystem::create_directories(snap);
  std::ofstream(snap + "/snapshot.json") << json{
      {"format", "haven-vm-snapshot"},
      {"version", 1},
      {"id", "00112233445566778899aabbccddeeff"},
      {"config",
       {{"kernel", m_images + "/kernel"},
        {"memory", "64M"},
        {"disks", json::array({{{"path", "/etc/shadow"}, {"readonly", true}}})}}},
      {"disk_copies", json::array({nullptr})},
      {"vm", json::object()},
      {"vcpus", json::array({json::object()})},
      {"devices", json::object()},
      {"memory", json::array()}}.dump();
  Answer restored = post("/v1/restore", {{"snapshot", snap}, {"name", "b"}});
  expect_forbidden(restored, "disks[0].path");
  EXPECT_EQ(send("GET", "/v1/vms/b").status, 404);
}

}  // namespace
}  // namespace haven::daemon
