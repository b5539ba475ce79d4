#include "daemon/backup_restore_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace haven::daemon {
namespace {

using json = nlohmann::json;

json body(json extra = json::object()) {
  json request = {{"repo", "/backups"}, {"snapshot", "1a2b"}, {"name", "vm2"}};
  request.update(extra);
  return request;
}

std::string error_of(const json& request) {
  auto parsed = backup_restore_request_from_json(request);
  return parsed ? std::string("(parsed)") : parsed.error().message();
}

TEST(BackupRestoreRequest, ReadsTheFieldsGiven) {
  auto request = backup_restore_request_from_json(body({{"instant", false},
                                                        {"fill_paused", true},
                                                        {"passphrase", "secret"},
                                                        {"memory", "1G"},
                                                        {"cpus", 2}}));
  ASSERT_TRUE(request) << request.error().message();
  EXPECT_EQ(request->repo, "/backups");
  EXPECT_EQ(request->snapshot, "1a2b");
  EXPECT_EQ(request->name, "vm2");
  EXPECT_FALSE(request->instant);
  EXPECT_TRUE(request->fill_paused);
  EXPECT_EQ(request->passphrase, "secret");
  EXPECT_EQ(request->memory, 1u << 30);
  EXPECT_EQ(request->cpus, 2u);
  EXPECT_FALSE(request->boot.kernel);
  EXPECT_FALSE(request->boot.firmware);
}

TEST(BackupRestoreRequest, ReadsTheFirmwareToBootWith) {
  for (auto [text, firmware] :
       {std::pair{"bios", vmm::Firmware::bios}, std::pair{"uefi", vmm::Firmware::uefi}}) {
    auto request = backup_restore_request_from_json(body({{"firmware", text}}));
    ASSERT_TRUE(request) << request.error().message();
    EXPECT_EQ(request->boot.firmware, firmware);
  }
}

TEST(BackupRestoreRequest, ABadFirmwareIsRefusedNamingTheField) {
  std::string error = error_of(body({{"firmware", "efi"}}));
  EXPECT_EQ(error, "firmware: 'efi' is not bios or uefi (give a kernel to boot one directly)");
  EXPECT_TRUE(error_of(body({{"firmware", "none"}})).starts_with("firmware: 'none'"));
  EXPECT_EQ(error_of(body({{"firmware", 1}})), "firmware: expected \"bios\" or \"uefi\"");
  EXPECT_EQ(error_of(body({{"firmware", nullptr}})), "firmware: expected \"bios\" or \"uefi\"");
}

TEST(BackupRestoreRequest, ReadsAKernelToBootWith) {
  auto request = backup_restore_request_from_json(
      body({{"kernel", "/boot/vmlinuz"}, {"initrd", "/boot/initrd"}, {"cmdline", "ro"}}));
  ASSERT_TRUE(request) << request.error().message();
  EXPECT_EQ(request->boot.kernel, "/boot/vmlinuz");
  EXPECT_EQ(request->boot.initrd, "/boot/initrd");
  EXPECT_EQ(request->boot.cmdline, "ro");
}

TEST(BackupRestoreRequest, OtherBadFieldsAreRefusedNamingTheField) {
  EXPECT_EQ(error_of(json{{"repo", "/b"}, {"name", "vm2"}}), "snapshot: missing");
  EXPECT_EQ(error_of(body({{"kernel", 7}})), "kernel: not text");
  EXPECT_TRUE(error_of(body({{"memory", "3M"}})).starts_with("memory: "))
      << error_of(body({{"memory", "3M"}}));
  EXPECT_TRUE(error_of(body({{"memory", 512}})).starts_with("memory: "));
  EXPECT_TRUE(error_of(body({{"cpus", 0}})).starts_with("cpus: "));
  EXPECT_EQ(error_of(body({{"cpus", "2"}})), "cpus: not a number");
  // havend answers with the kind and the field, not by reading the message.
  for (const auto& [request, field] :
       {std::pair{json{{"repo", "/b"}, {"name", "vm2"}}, "snapshot"},
        std::pair{body({{"memory", "3M"}}), "memory"}, std::pair{body({{"cpus", 0}}), "cpus"},
        std::pair{body({{"firmware", "none"}}), "firmware"}}) {
    auto parsed = backup_restore_request_from_json(request);
    ASSERT_FALSE(parsed) << field;
    EXPECT_EQ(parsed.error().kind(), ErrorKind::invalid) << field;
    EXPECT_EQ(parsed.error().field(), field);
  }
}

TEST(BackupRestoreRequest, WrongTypesAreRefusedNotIgnored) {
  for (const char* field : {"instant", "fill_paused", "passphrase"}) {
    nlohmann::json body = {{"repo", "/r"}, {"snapshot", "abc"}, {"name", "n"}};
    body[field] = field == std::string("passphrase") ? nlohmann::json(42) : nlohmann::json("false");
    auto request = backup_restore_request_from_json(body);
    ASSERT_FALSE(request) << field;
    EXPECT_TRUE(request.error().message().starts_with(std::string(field) + ": ")) << field;
  }
}

}  // namespace
}  // namespace haven::daemon
