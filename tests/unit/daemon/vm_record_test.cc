#include "daemon/vm_record.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace haven::daemon {
namespace {

TEST(VmName, AcceptsFileSafeNamesOnly) {
  for (std::string good : {std::string("vm1"), std::string("a"), std::string("web-01"),
                           std::string("db_2.test"), std::string(63, 'x')})
    EXPECT_TRUE(validate_vm_name(good)) << good;
  for (std::string bad : {std::string(), std::string(64, 'x'), std::string("-lead"),
                          std::string(".hidden"), std::string("Upper"), std::string("a/b"),
                          std::string(".."), std::string("sp ace"), std::string("é")})
    EXPECT_FALSE(validate_vm_name(bad)) << bad;
}

TEST(VmDefinition, RoundTripsThroughJson) {
  auto definition = vm_definition_from_json(
      R"({"name": "vm1", "kernel": "/k", "memory": "256M", "cpus": 2,
          "disks": [{"path": "/d.img", "readonly": true}]})");
  ASSERT_TRUE(definition) << definition.error().message();
  EXPECT_EQ(definition->name, "vm1");
  EXPECT_EQ(definition->config.memory, 256u << 20);
  EXPECT_EQ(definition->config.cpus, 2u);
  ASSERT_EQ(definition->config.disks.size(), 1u);
  EXPECT_TRUE(definition->config.disks[0].readonly);
  auto again = vm_definition_from_json(vm_definition_to_json(*definition));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->name, "vm1");
  EXPECT_EQ(again->config.disks, definition->config.disks);
}

TEST(VmDefinition, ErrorsNameTheField) {
  auto message = [](const char* text) {
    auto parsed = vm_definition_from_json(text);
    return parsed ? std::string("parsed") : parsed.error().message();
  };
  EXPECT_EQ(message("[]"), "body: not a JSON object");
  EXPECT_EQ(message(R"({"kernel": "/k"})"), "name: missing (a string)");
  EXPECT_NE(message(R"({"name": "Bad Name", "kernel": "/k"})").find("name:"), std::string::npos);
  EXPECT_NE(message(R"({"name": "a", "kernel": "/k", "memory": "1Q"})").find("memory"),
            std::string::npos);
  EXPECT_NE(message(R"({"name": "a", "kernel": "/k", "console": "stdio"})").find("console:"),
            std::string::npos)
      << "the daemon owns the console";
  EXPECT_NE(message(R"({"name": "a", "kernel": "/k", "colour": 1})").find("colour"),
            std::string::npos)
      << "unknown fields are errors";
}

TEST(VmStatus, RoundTripsThroughJson) {
  VmStatus status;
  status.state = VmState::crashed;
  status.started_at = 10;
  status.stopped_at = 20;
  status.exit_signal = 9;
  status.reason = "killed";
  auto again = vm_status_from_json(vm_status_to_json(status).dump());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->state, VmState::crashed);
  EXPECT_EQ(again->exit_signal, 9);
  EXPECT_FALSE(again->exit_status);
  EXPECT_EQ(again->reason, "killed");
  EXPECT_FALSE(vm_status_from_json(R"({"state": "dancing"})"));
  EXPECT_FALSE(vm_status_from_json("{}"));
}

}  // namespace
}  // namespace haven::daemon
