#include "daemon/vm_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace haven::daemon {
namespace {

class VmRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-registry-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  static VmDefinition vm(const std::string& name, uint32_t cpus = 1) {
    VmDefinition definition;
    definition.name = name;
    definition.config.kernel = "/boot/vmlinuz";
    definition.config.cpus = cpus;
    return definition;
  }
  std::string m_dir;
};

TEST_F(VmRegistryTest, DefinitionsSurviveReopening) {
  {
    auto registry = VmRegistry::open(m_dir + "/vms").value();
    ASSERT_TRUE(registry->add(vm("b")));
    ASSERT_TRUE(registry->add(vm("a", 2)));
    auto taken = registry->add(vm("a"));
    ASSERT_FALSE(taken);
    EXPECT_NE(taken.error().message().find("exists"), std::string::npos);
    // A request that lost a race to another is told so (409), not that havend failed (500).
    EXPECT_EQ(taken.error().kind(), ErrorKind::conflict);
    EXPECT_EQ(taken.error().field(), "name");
    ASSERT_TRUE(registry->replace(vm("b", 4)));
    auto unknown = registry->replace(vm("c"));
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind(), ErrorKind::not_found);
  }
  auto reopened = VmRegistry::open(m_dir + "/vms").value();
  auto all = reopened->list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "a");
  EXPECT_EQ(all[0].config.cpus, 2u);
  EXPECT_EQ(reopened->find("b")->config.cpus, 4u);
  ASSERT_TRUE(reopened->remove("a"));
  auto gone = reopened->remove("a");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind(), ErrorKind::not_found);
  EXPECT_FALSE(VmRegistry::open(m_dir + "/vms").value()->find("a"));
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/vms/a.json"));
}

TEST_F(VmRegistryTest, ADamagedDefinitionIsKeptAsABrokenGuestAndTheOthersLoad) {
  ASSERT_TRUE(VmRegistry::open(m_dir + "/vms").value()->add(vm("good")));
  std::ofstream(m_dir + "/vms/x.json") << "{not json";
  std::ofstream(m_dir + "/vms/z.json") << R"({"name": "y", "kernel": "/k"})";
  auto registry = VmRegistry::open(m_dir + "/vms");
  ASSERT_TRUE(registry) << registry.error().message();
  EXPECT_TRUE((*registry)->find("good"));
  EXPECT_FALSE((*registry)->find("x"));
  auto broken = (*registry)->broken();
  ASSERT_EQ(broken.size(), 2u);
  EXPECT_EQ(broken[0].name, "x");
  EXPECT_NE(broken[0].error.find("x.json"), std::string::npos) << broken[0].error;
  EXPECT_EQ(broken[1].name, "z");
  EXPECT_NE(broken[1].error.find("names itself 'y'"), std::string::npos) << broken[1].error;
  // The name stays taken and the file stays as it was, until the guest is deleted.
  auto taken = (*registry)->add(vm("x"));
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message().find("broken definition"), std::string::npos);
  std::ifstream kept(m_dir + "/vms/x.json");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "{not json");
  ASSERT_TRUE((*registry)->remove("x"));
  EXPECT_FALSE((*registry)->find_broken("x"));
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/vms/x.json"));
  EXPECT_TRUE((*registry)->add(vm("x")));
  EXPECT_EQ(VmRegistry::open(m_dir + "/vms").value()->broken().size(), 1u);
}

}  // namespace
}  // namespace haven::daemon
