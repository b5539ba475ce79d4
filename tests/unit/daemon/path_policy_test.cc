#include "daemon/path_policy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace haven::daemon {
namespace {

class PathPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-paths-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = std::filesystem::canonical(pattern).string();
    m_root = m_dir + "/images";
    std::filesystem::create_directories(m_root + "/sub");
    std::ofstream(m_root + "/disk.img") << "disk";
    std::filesystem::create_directories(m_dir + "/outside");
    std::ofstream(m_dir + "/outside/secret") << "secret";
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  PathPolicy policy() const {
    auto made = PathPolicy::make({m_root});
    EXPECT_TRUE(made) << made.error().message();
    return *made;
  }
  // The check's error kind, or nullopt when the path is allowed.
  std::optional<ErrorKind> refusal(const std::string& path,
                                   PathPolicy::Use use = PathPolicy::Use::any) const {
    auto checked = policy().check("disk", path, use);
    if (checked) return std::nullopt;
    EXPECT_EQ(checked.error().field(), "disk") << checked.error().message();
    return checked.error().kind();
  }

  std::string m_dir, m_root;
};

TEST_F(PathPolicyTest, TheRootsMustExist) {
  auto missing = PathPolicy::make({m_dir + "/none"});
  ASSERT_FALSE(missing);
  EXPECT_NE(
      missing.error().message().find("--allow-path " + m_dir + "/none: no such file or directory"),
      std::string::npos)
      << missing.error().message();
  // A root reached through a link is kept as the directory it leads to.
  std::filesystem::create_directory_symlink(m_root, m_dir + "/link-to-images");
  auto linked = PathPolicy::make({m_dir + "/link-to-images"});
  ASSERT_TRUE(linked);
  EXPECT_EQ(linked->roots(), std::vector<std::string>{m_root});
}

TEST_F(PathPolicyTest, PathsInsideARootAreAllowedThoseOutsideForbidden) {
  EXPECT_EQ(refusal(m_root + "/disk.img"), std::nullopt);
  EXPECT_EQ(refusal(m_root), std::nullopt);
  EXPECT_EQ(refusal(m_root + "/sub/"), std::nullopt);
  EXPECT_EQ(refusal(m_root + "/new.img"), std::nullopt);        // made later
  EXPECT_EQ(refusal(m_root + "/new/dir/x.img"), std::nullopt);  // its folders too
  EXPECT_EQ(refusal("/etc/shadow"), ErrorKind::forbidden);
  EXPECT_EQ(refusal(m_dir + "/outside/secret"), ErrorKind::forbidden);
  EXPECT_EQ(refusal(m_root + "-other/disk.img"), ErrorKind::forbidden);  // a name's prefix
  EXPECT_EQ(refusal("/nonexistent/disk.img"), ErrorKind::forbidden);
  auto refused = policy().check("kernel", "/etc/shadow");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(),
            "kernel: /etc/shadow is outside the directories havend may use, links followed (" +
                m_root + "; havend --allow-path)");
}

// One file allowed (a block device, say), through a link to it as LVM's /dev/VG/LV are.
TEST_F(PathPolicyTest, ARootMayBeOneFileReachedThroughItsLinks) {
  std::filesystem::create_symlink(m_root + "/disk.img", m_dir + "/volume");
  auto made = PathPolicy::make({m_dir + "/volume"});
  ASSERT_TRUE(made) << made.error().message();
  EXPECT_EQ(made->roots(), std::vector<std::string>{m_root + "/disk.img"});
  EXPECT_TRUE(made->check("disk", m_dir + "/volume"));
  EXPECT_TRUE(made->check("disk", m_root + "/disk.img"));
  EXPECT_FALSE(made->check("disk", m_root + "/disk.img/x"));
  EXPECT_FALSE(made->check("disk", m_root + "/sub"));
}

TEST_F(PathPolicyTest, RelativePathsAndDotPartsAreInvalid) {
  EXPECT_EQ(refusal("images/disk.img"), ErrorKind::invalid);
  EXPECT_EQ(refusal(""), ErrorKind::invalid);
  EXPECT_EQ(refusal(m_root + "/../outside/secret"), ErrorKind::invalid);
  EXPECT_EQ(refusal(m_root + "/new/../../outside/secret"), ErrorKind::invalid);
  EXPECT_EQ(refusal(m_root + "/./disk.img"), ErrorKind::invalid);
  EXPECT_EQ(refusal(m_root + "/.."), ErrorKind::invalid);
  // Names that merely start with dots are names.
  std::ofstream(m_root + "/..disk") << "x";
  EXPECT_EQ(refusal(m_root + "/..disk"), std::nullopt);
}

TEST_F(PathPolicyTest, ALinkInsideARootCannotLeadOutOfIt) {
  std::filesystem::create_symlink(m_dir + "/outside/secret", m_root + "/secret-link");
  std::filesystem::create_directory_symlink(m_dir + "/outside", m_root + "/outside-link");
  std::filesystem::create_symlink("/etc/shadow", m_root + "/shadow.img");
  std::filesystem::create_symlink(m_root + "/disk.img", m_root + "/inner-link");
  EXPECT_EQ(refusal(m_root + "/secret-link"), ErrorKind::forbidden);
  EXPECT_EQ(refusal(m_root + "/outside-link/secret"), ErrorKind::forbidden);
  EXPECT_EQ(refusal(m_root + "/outside-link/not-yet"), ErrorKind::forbidden);
  EXPECT_EQ(refusal(m_root + "/shadow.img"), ErrorKind::forbidden);
  EXPECT_EQ(refusal(m_root + "/inner-link"), std::nullopt);
  // The refusal names the path as given, never where it leads (the client may not see that).
  auto refused = policy().check("disk", m_root + "/shadow.img");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message().find("/etc/shadow"), std::string::npos)
      << refused.error().message();
  // A dangling link: where it would lead counts.
  std::filesystem::create_symlink(m_dir + "/outside/new-file", m_root + "/dangling");
  EXPECT_EQ(refusal(m_root + "/dangling"), ErrorKind::forbidden);
}

TEST_F(PathPolicyTest, ASnapshotTargetIsNewEmptyOrAnEarlierSnapshot) {
  using Use = PathPolicy::Use;
  EXPECT_EQ(refusal(m_root + "/snap-new", Use::snapshot_target), std::nullopt);
  std::filesystem::create_directory(m_root + "/snap-empty");
  EXPECT_EQ(refusal(m_root + "/snap-empty", Use::snapshot_target), std::nullopt);
  EXPECT_EQ(refusal(m_root, Use::snapshot_target), ErrorKind::conflict);  // holds files
  EXPECT_EQ(refusal(m_root + "/disk.img", Use::snapshot_target), ErrorKind::conflict);
  EXPECT_EQ(refusal("/etc", Use::snapshot_target), ErrorKind::forbidden);
  // An earlier snapshot is replaced; one that failed left only its lock.
  std::filesystem::create_directory(m_root + "/snap-old");
  std::ofstream(m_root + "/snap-old/snapshot.json") << "{}";
  std::ofstream(m_root + "/snap-old/memory") << "";
  EXPECT_EQ(refusal(m_root + "/snap-old", Use::snapshot_target), std::nullopt);
  std::filesystem::create_directory(m_root + "/snap-failed");
  std::ofstream(m_root + "/snap-failed/lock") << "";
  EXPECT_EQ(refusal(m_root + "/snap-failed", Use::snapshot_target), std::nullopt);
}

TEST_F(PathPolicyTest, HavendsStateDirectoryLendsOnlyItsDisksAndImages) {
  std::string state = m_dir + "/state";
  std::filesystem::create_directories(state + "/vms");
  auto made = PathPolicy::for_state({m_root}, state);
  ASSERT_TRUE(made) << made.error().message();
  EXPECT_TRUE(made->check("disk", state + "/disks/a/disk-0.img"));
  EXPECT_TRUE(made->check("disk", state + "/images/web.img"));
  EXPECT_TRUE(made->check("disk", m_root + "/disk.img"));
  auto definition = made->check("disk", state + "/vms/a.json");
  ASSERT_FALSE(definition);
  EXPECT_EQ(definition.error().kind(), ErrorKind::forbidden);
  EXPECT_FALSE(made->check("disk", state + "/havend.lock"));
}

// Outside is answered the same whatever is there: no way to learn which host files exist.
TEST_F(PathPolicyTest, TheOutsideLooksTheSameWhateverIsThere) {
  for (std::string path : {m_dir + "/outside/secret/x", m_dir + "/outside/none/x",
                           m_dir + "/outside/secret", m_dir + "/outside/none"}) {
    auto refused = policy().check("disk", path);
    ASSERT_FALSE(refused) << path;
    EXPECT_EQ(refused.error().kind(), ErrorKind::forbidden) << path;
    EXPECT_EQ(refused.error().message(),
              "disk: " + path + " is outside the directories havend may use, links followed (" +
                  m_root + "; havend --allow-path)");
  }
  // Inside, a file used as a folder is the request's mistake.
  EXPECT_EQ(refusal(m_root + "/disk.img/x"), ErrorKind::invalid);
}

TEST_F(PathPolicyTest, EveryPathOfADefinitionIsCheckedAndNamed) {
  vmm::VmConfig config;
  config.kernel = m_root + "/disk.img";
  config.disks.push_back({.path = m_root + "/disk.img"});
  EXPECT_TRUE(policy().check_config(config));
  auto named = [&](vmm::VmConfig changed) {
    auto checked = policy().check_config(changed);
    EXPECT_FALSE(checked);
    return checked ? std::string() : checked.error().field();
  };
  const std::string outside = m_dir + "/outside/secret";
  vmm::VmConfig changed = config;
  changed.kernel = outside;
  EXPECT_EQ(named(changed), "kernel");
  changed = config;
  changed.initrd = outside;
  EXPECT_EQ(named(changed), "initrd");
  changed = config;
  changed.disks.push_back({.path = outside, .readonly = true});
  EXPECT_EQ(named(changed), "disks[1].path");
  changed = config;
  changed.disks[0].restore_repo = m_dir + "/outside";
  EXPECT_EQ(named(changed), "disks[0].restore_repo");
  changed = config;
  changed.cdrom = outside;
  EXPECT_EQ(named(changed), "cdrom");
  changed = config;
  changed.floppy = outside;
  EXPECT_EQ(named(changed), "floppy");
  changed = config;
  changed.nvram = outside;
  EXPECT_EQ(named(changed), "nvram");
}

}  // namespace
}  // namespace haven::daemon
