// A guest backed up through havend (daemon/vm_backup.h) and restored from the backup
// (daemon/backup_restore.h): its VM config and a UEFI guest's variables go with its disk. The
// guest is stopped, so no VMM is involved.
#include "daemon/backup_restore.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/sys.h"
#include "daemon/supervisor.h"
#include "daemon/vm_backup.h"
#include "store/backup.h"

namespace haven::daemon {
namespace {

using json = nlohmann::json;

class BackupRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-backup-restore-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
    store::InitOptions init;
    init.chunk_size = 4096;
    ASSERT_TRUE(store::Repository::init(repo(), init));
    auto opened = Supervisor::open({m_dir + "/state", m_dir + "/no-vmm", 1.5, false},
                                   [](const std::string&, const VmStatus&) {});
    ASSERT_TRUE(opened) << opened.error().message();
    m_supervisor = std::move(*opened);
    write(m_dir + "/disk.img", std::vector<uint8_t>(64 << 10, 0x33));
    m_nvram.assign(528 << 10, 0xff);
    for (size_t i = 0; i < 2048; ++i) m_nvram[i] = static_cast<uint8_t>(i * 7);
  }
  void TearDown() override {
    m_supervisor.reset();
    std::filesystem::remove_all(m_dir);
  }

  std::string repo() const { return m_dir + "/repo"; }
  std::string disk_dir(const std::string& name) const {
    return m_supervisor->paths().disk_dir(name);
  }
  static void write(const std::string& path, const std::vector<uint8_t>& bytes) {
    ASSERT_TRUE(write_file_atomic(path, bytes, false, 0600));
  }

  // A stopped UEFI guest whose variable store havend keeps in its own directory.
  VmDefinition uefi_guest() {
    VmDefinition definition;
    definition.name = "web";
    definition.config.firmware = vmm::Firmware::uefi;
    definition.config.disks.push_back({.path = m_dir + "/disk.img"});
    definition.config.cdrom = m_dir + "/install.iso";
    definition.config.boot_order = {vmm::BootDevice::disk, vmm::BootDevice::cdrom};
    definition.config.boot_timeout = 90;
    definition.config.on_reboot = vmm::RebootAction::restart;
    definition.config.nvram = m_dir + "/web-nvram.fd";
    write(*definition.config.nvram, m_nvram);
    return definition;
  }

  // The id of the one snapshot back_up_vm() made.
  std::string back_up(const VmDefinition& definition) {
    auto result =
        back_up_vm(*m_supervisor, m_sessions, definition, {repo(), "", {}}, [](const json&) {});
    EXPECT_TRUE(result) << result.error().message();
    if (!result) return {};
    EXPECT_EQ((*result)["snapshots"].size(), 1u);
    return (*result)["snapshots"][0]["id"];
  }

  Result<PreparedRestore> restore(const std::string& snapshot, const std::string& name,
                                  bool instant, vmm::BootChoice boot = {}) {
    BackupRestoreRequest request;
    request.repo = repo();
    request.snapshot = snapshot;
    request.name = name;
    request.instant = instant;
    request.boot = boot;
    return prepare_backup_restore(request, m_sessions, disk_dir(name));
  }

  void expect_private_copy(const std::string& path) {
    EXPECT_EQ(sys::read_file(path, 16 << 20).value(), m_nvram);
    struct stat info {};
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
  }

  std::string m_dir;
  std::vector<uint8_t> m_nvram;
  RepositorySessions m_sessions;
  std::unique_ptr<Supervisor> m_supervisor;
};

TEST_F(BackupRestoreTest, AUefiGuestsVariablesGoThroughBackupAndRestore) {
  std::string id = back_up(uefi_guest());
  ASSERT_FALSE(id.empty());
  for (bool instant : {false, true}) {
    std::string name = instant ? "web-instant" : "web-whole";
    auto prepared = restore(id, name, instant);
    ASSERT_TRUE(prepared) << prepared.error().message();
    const vmm::VmConfig& config = prepared->definition.config;
    EXPECT_EQ(config.firmware, vmm::Firmware::uefi);
    EXPECT_EQ(config.cdrom, m_dir + "/install.iso") << "host paths stay as they were";
    EXPECT_EQ(config.boot_order,
              (std::vector<vmm::BootDevice>{vmm::BootDevice::disk, vmm::BootDevice::cdrom}));
    EXPECT_EQ(config.boot_timeout, 90u);
    EXPECT_EQ(config.on_reboot, vmm::RebootAction::restart);
    ASSERT_EQ(config.nvram, disk_dir(name) + "/nvram.fd") << "never the original's store";
    expect_private_copy(*config.nvram);
    EXPECT_EQ(config.disks[0].restore_repo.empty(), !instant);
  }
  EXPECT_EQ(sys::read_file(m_dir + "/web-nvram.fd", 16 << 20).value(), m_nvram);
}

TEST_F(BackupRestoreTest, AUefiGuestNeverStartedHasNoVariablesToKeep) {
  VmDefinition definition = uefi_guest();
  std::filesystem::remove(*definition.config.nvram);
  auto prepared = restore(back_up(definition), "fresh", false);
  ASSERT_TRUE(prepared) << prepared.error().message();
  ASSERT_EQ(prepared->definition.config.nvram, disk_dir("fresh") + "/nvram.fd");
  EXPECT_FALSE(std::filesystem::exists(*prepared->definition.config.nvram))
      << "the VMM makes a fresh store at the first start";
}

TEST_F(BackupRestoreTest, AnOlderBackupWithoutVariablesStillRestores) {
  // As havend stored a UEFI guest before its variables went with it: the definition, with the
  // path of the original's store, and no variables.
  VmDefinition definition = uefi_guest();
  store::BackupOptions options;
  options.source = definition.config.disks[0].path;
  options.name = "web";
  options.vm = vm_definition_to_json(definition);
  options.disk = 0;
  auto repository = m_sessions.open(repo(), "").value();
  auto snapshot = store::backup_image(*repository, options);
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  auto prepared = restore(snapshot->id, "old", true);
  ASSERT_TRUE(prepared) << prepared.error().message();
  EXPECT_EQ(prepared->definition.config.firmware, vmm::Firmware::uefi);
  EXPECT_EQ(prepared->definition.config.nvram, disk_dir("old") + "/nvram.fd");
  EXPECT_FALSE(std::filesystem::exists(disk_dir("old") + "/nvram.fd"));

  // And a direct-boot guest's as it always did.
  VmDefinition direct;
  direct.name = "db";
  direct.config.kernel = m_dir + "/vmlinuz";
  direct.config.disks.push_back({.path = m_dir + "/disk.img"});
  options.vm = vm_definition_to_json(direct);
  snapshot = store::backup_image(*repository, options);
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  prepared = restore(snapshot->id, "db2", false);
  ASSERT_TRUE(prepared) << prepared.error().message();
  EXPECT_EQ(prepared->definition.config.kernel, m_dir + "/vmlinuz");
  EXPECT_FALSE(prepared->definition.config.nvram);
}

TEST_F(BackupRestoreTest, ABareDiskBootsThroughFirmwareOrIsRefusedLeavingNothing) {
  store::BackupOptions options;
  options.source = m_dir + "/disk.img";
  options.name = "p2v";
  auto repository = m_sessions.open(repo(), "").value();
  auto snapshot = store::backup_image(*repository, options);
  ASSERT_TRUE(snapshot) << snapshot.error().message();

  auto refused = restore(snapshot->id, "p2v", true);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().message().starts_with("kernel: the snapshot is a bare disk"))
      << refused.error().message();
  EXPECT_EQ(refused.error().kind(), ErrorKind::invalid);
  EXPECT_EQ(refused.error().field(), "kernel");
  EXPECT_FALSE(std::filesystem::exists(disk_dir("p2v")));

  auto prepared = restore(snapshot->id, "p2v", true, {.firmware = vmm::Firmware::uefi});
  ASSERT_TRUE(prepared) << prepared.error().message();
  const vmm::VmConfig& config = prepared->definition.config;
  EXPECT_EQ(config.firmware, vmm::Firmware::uefi);
  EXPECT_EQ(config.on_reboot, vmm::RebootAction::restart);
  EXPECT_EQ(config.nvram, disk_dir("p2v") + "/nvram.fd");
  auto valid = vmm::validate(config);
  EXPECT_TRUE(valid) << valid.error().message();
}

// It used to fail validation: the disk had no path yet ("config: disks: a disk without a path").
TEST_F(BackupRestoreTest, ABareDiskBootsTheKernelGiven) {
  store::BackupOptions options;
  options.source = m_dir + "/disk.img";
  options.name = "plain";
  auto repository = m_sessions.open(repo(), "").value();
  auto snapshot = store::backup_image(*repository, options);
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  auto prepared = restore(snapshot->id, "plain", false, {.kernel = m_dir + "/vmlinuz"});
  ASSERT_TRUE(prepared) << prepared.error().message();
  const vmm::VmConfig& config = prepared->definition.config;
  EXPECT_EQ(config.kernel, m_dir + "/vmlinuz");
  ASSERT_EQ(config.disks.size(), 1u);
  EXPECT_EQ(config.disks[0].path, disk_dir("plain") + "/disk-0.img");
  EXPECT_EQ(sys::read_file(config.disks[0].path, 1 << 20).value(),
            std::vector<uint8_t>(64 << 10, 0x33));
}

TEST_F(BackupRestoreTest, AKernelBootsAUefiGuestsDiskDirectlyWithoutItsVariables) {
  auto prepared = restore(back_up(uefi_guest()), "direct", false, {.kernel = m_dir + "/vmlinuz"});
  ASSERT_TRUE(prepared) << prepared.error().message();
  const vmm::VmConfig& config = prepared->definition.config;
  EXPECT_EQ(config.firmware, vmm::Firmware::none);
  EXPECT_EQ(config.kernel, m_dir + "/vmlinuz");
  EXPECT_FALSE(config.cdrom);
  EXPECT_FALSE(config.nvram);
  EXPECT_FALSE(std::filesystem::exists(disk_dir("direct") + "/nvram.fd"));
  ASSERT_EQ(prepared->notes.size(), 1u);
  EXPECT_NE(prepared->notes[0].find("cdrom"), std::string::npos) << prepared->notes[0];
}

}  // namespace
}  // namespace haven::daemon
