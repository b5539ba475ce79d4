#include "vmm/vm_config.h"

#include <gtest/gtest.h>

namespace haven::vmm {
namespace {

std::string error_of(std::string_view json) {
  auto config = vm_config_from_json(json);
  return config ? std::string("(parsed)") : config.error().message();
}

TEST(VmConfig, AFullConfigRoundTrips) {
  auto config = vm_config_from_json(R"({"kernel": "/k", "initrd": "/i", "cmdline": "quiet",
      "memory": "1G", "cpus": 4, "console": "socket:/run/vm.sock", "on_reboot": "restart"})");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->kernel, "/k");
  EXPECT_EQ(config->initrd, "/i");
  EXPECT_EQ(config->cmdline, "quiet");
  EXPECT_EQ(config->memory, 1 * GiB);
  EXPECT_EQ(config->cpus, 4u);
  EXPECT_EQ(config->console.kind, ConsoleConfig::Kind::socket);
  EXPECT_EQ(config->console.path, "/run/vm.sock");
  EXPECT_EQ(config->on_reboot, RebootAction::restart);
  auto again = vm_config_from_json(vm_config_to_json(*config));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(vm_config_to_json(*again), vm_config_to_json(*config));
}

TEST(VmConfig, DefaultsAndBareMemoryNumbers) {
  auto config = vm_config_from_json(R"({"kernel": "/k", "memory": 256})");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->memory, 256 * MiB);
  EXPECT_EQ(config->cpus, 1u);
  EXPECT_EQ(config->cmdline, VmConfig::kDefaultCmdline);
  EXPECT_EQ(config->console.kind, ConsoleConfig::Kind::stdio);
  EXPECT_EQ(config->on_reboot, RebootAction::exit);
}

TEST(VmConfig, EachBadValueNamesItsField) {
  struct Case {
    const char* json;
    const char* field;
  };
  for (const Case& c : {
           Case{R"({"kernel": "/k", "memory": "12Q"})", "memory"},
           Case{R"({"kernel": "/k", "memory": "1M"})", "memory"},
           Case{R"({"kernel": "/k", "cpus": 0})", "cpus"},
           Case{R"({"kernel": "/k", "cpus": 300})", "cpus"},
           Case{R"({"kernel": "/k", "cpus": "two"})", "cpus"},
           Case{R"({"kernel": "/k", "console": "bogus:x"})", "console"},
           Case{R"({"kernel": "/k", "console": "file:"})", "console"},
           Case{R"({"kernel": "/k", "on_reboot": "maybe"})", "on_reboot"},
           Case{R"({"kernel": 7})", "kernel"},
           Case{R"({"kernel": "/k", "initrd": false})", "initrd"},
           Case{R"({"kernel": "/k", "memroy": "1G"})", "memroy"},
       }) {
    std::string error = error_of(c.json);
    EXPECT_NE(error.find(c.field), std::string::npos) << c.json << " -> " << error;
  }
}

TEST(VmConfig, MalformedJsonAndMissingKernelAreClearErrors) {
  EXPECT_NE(error_of("{\"kernel\": ").find("JSON"), std::string::npos) << error_of("{");
  EXPECT_NE(error_of("[1, 2]").find("object"), std::string::npos) << error_of("[1, 2]");
  auto config = vm_config_from_json(R"({"cpus": 2})");
  if (config) {  // a partial config may parse; validation must then refuse it
    auto valid = validate(*config);
    ASSERT_FALSE(valid);
    EXPECT_NE(valid.error().message().find("kernel"), std::string::npos);
  } else {
    EXPECT_NE(config.error().message().find("kernel"), std::string::npos);
  }
}

TEST(VmConfig, OverlayKeepsFieldsNotMentioned) {
  VmConfig base;
  base.kernel = "/base";
  base.cpus = 3;
  auto config = vm_config_from_json(R"({"memory": "2G"})", base);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->kernel, "/base");
  EXPECT_EQ(config->cpus, 3u);
  EXPECT_EQ(config->memory, 2 * GiB);
}

TEST(VmConfig, ConsoleStringsRoundTrip) {
  for (const char* text : {"stdio", "none", "file:/tmp/console.log", "socket:/run/s"}) {
    auto console = parse_console(text);
    ASSERT_TRUE(console) << text;
    EXPECT_EQ(console_to_string(*console), text);
  }
}

}  // namespace
}  // namespace haven::vmm
