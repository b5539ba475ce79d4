// A guest made from a VM snapshot directory, which is somebody else's input: its config is
// held to a definition's rules and its files are never links.

#include "daemon/restore.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "base/units.h"
#include "vmm/snapshot_layout.h"

namespace haven::daemon {
namespace {

using json = nlohmann::json;

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-restore-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
    std::filesystem::create_directories(m_dir + "/snap");
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  // A snapshot of one writable disk whose VMM state is there in shape (prepare_restore does not
  // decode it), with `change` applied to its config first.
  void write_snapshot(
      const std::function<void(vmm::VmConfig&)>& change,
      const std::function<void(json&)>& edit = [](json&) {}) {
    vmm::SnapshotSummary summary;
    summary.config.kernel = "/boot/vmlinuz";
    summary.config.memory = 256 * MiB;
    summary.config.disks = {{"/images/root.img", false, false}};
    change(summary.config);
    summary.disk_copies = {vmm::snapshot_disk_name(0)};
    json doc = vmm::snapshot_summary_document(summary);
    doc["vm"] = json::object();
    doc["vcpus"] = json::array({json::object()});
    doc["devices"] = json::object();
    doc["memory"] = json::array();
    edit(doc);
    std::ofstream(m_dir + "/snap/" + vmm::kSnapshotFileName) << doc.dump();
  }
  void write_disk() {
    std::ofstream(m_dir + "/snap/" + vmm::snapshot_disk_name(0)) << std::string(4096, 'd');
  }

  std::string m_dir;
};

TEST_F(RestoreTest, ASnapshotsConsolesAreNotTakenAndItsDiskIsCopied) {
  write_snapshot([&](vmm::VmConfig& config) {
    config.virtio_console = vmm::ConsoleConfig{vmm::ConsoleConfig::Kind::file, m_dir + "/victim"};
    config.console = {vmm::ConsoleConfig::Kind::file, m_dir + "/victim"};
  });
  write_disk();
  auto definition = prepare_restore(m_dir + "/snap", "vm2", m_dir + "/disks/vm2");
  ASSERT_TRUE(definition) << definition.error().message();
  ASSERT_TRUE(definition->config.virtio_console) << "the device stays, to match the snapshot";
  EXPECT_EQ(definition->config.virtio_console->kind, vmm::ConsoleConfig::Kind::none);
  EXPECT_EQ(definition->config.virtio_console->path, "");
  EXPECT_NE(definition->config.console.kind, vmm::ConsoleConfig::Kind::file);
  EXPECT_EQ(definition->config.disks[0].path, m_dir + "/disks/vm2/disk-0.img");
  EXPECT_EQ(std::filesystem::file_size(definition->config.disks[0].path), 4096u);
}

TEST_F(RestoreTest, ADiskCopyThatIsALinkIsRefusedAndNothingIsLeft) {
  write_snapshot([](vmm::VmConfig&) {});
  std::ofstream(m_dir + "/host-secret") << "root:x:0:0";
  std::filesystem::create_symlink(m_dir + "/host-secret",
                                  m_dir + "/snap/" + vmm::snapshot_disk_name(0));
  auto definition = prepare_restore(m_dir + "/snap", "vm2", m_dir + "/disks/vm2");
  ASSERT_FALSE(definition);
  EXPECT_NE(definition.error().message().find("symbolic link"), std::string::npos)
      << definition.error().message();
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/disks/vm2"));
}

TEST_F(RestoreTest, ASnapshotsConfigMustPassADefinitionsRules) {
  // A kernel and firmware both: no definition may say that.
  write_snapshot([](vmm::VmConfig&) {}, [](json& doc) { doc["config"]["firmware"] = "bios"; });
  write_disk();
  auto definition = prepare_restore(m_dir + "/snap", "vm2", m_dir + "/disks/vm2");
  ASSERT_FALSE(definition);
  EXPECT_EQ(definition.error().field(), "snapshot") << definition.error().message();
  EXPECT_NE(definition.error().message().find("kernel"), std::string::npos)
      << definition.error().message();
}

}  // namespace
}  // namespace haven::daemon
