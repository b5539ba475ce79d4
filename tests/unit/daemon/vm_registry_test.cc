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
    ASSERT_TRUE(registry->replace(vm("b", 4)));
    EXPECT_FALSE(registry->replace(vm("c")));
  }
  auto reopened = VmRegistry::open(m_dir + "/vms").value();
  auto all = reopened->list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "a");
  EXPECT_EQ(all[0].config.cpus, 2u);
  EXPECT_EQ(reopened->find("b")->config.cpus, 4u);
  ASSERT_TRUE(reopened->remove("a"));
  EXPECT_FALSE(reopened->remove("a"));
  EXPECT_FALSE(VmRegistry::open(m_dir + "/vms").value()->find("a"));
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/vms/a.json"));
}

TEST_F(VmRegistryTest, ADamagedDefinitionStopsTheDaemonNamingTheFile) {
  ASSERT_TRUE(VmRegistry::open(m_dir + "/vms"));
  std::ofstream(m_dir + "/vms/x.json") << "{not json";
  auto refused = VmRegistry::open(m_dir + "/vms");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("x.json"), std::string::npos);
  std::ofstream(m_dir + "/vms/x.json") << R"({"name": "y", "kernel": "/k"})";
  refused = VmRegistry::open(m_dir + "/vms");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("names itself 'y'"), std::string::npos);
}

}  // namespace
}  // namespace haven::daemon
