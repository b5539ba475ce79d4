#include "daemon/api_server.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "unit/daemon/api_harness.h"

namespace haven::daemon {
namespace {

using nlohmann::json;

// The statuses and fields of the API's errors, as a client sees them.
class ApiServerTest : public ApiHarness {};

TEST_F(ApiServerTest, ABadRequestIs400NamingTheField) {
  serve();
  Answer bad = post("/v1/vms", vm("a", "3M"));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.body.value("field", ""), "memory") << bad.body;
  Answer unknown = post("/v1/vms", {{"name", "a"}, {"kernel", "/k"}, {"color", 1}});
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_EQ(unknown.body.value("field", ""), "color") << unknown.body;
  Answer no_repo = post("/v1/restore", {{"repo", "relative"}, {"snapshot", "x"}, {"name", "n"}});
  EXPECT_EQ(no_repo.status, 400) << no_repo.body;
  EXPECT_EQ(no_repo.body.value("field", ""), "repo") << no_repo.body;
  Answer no_snapshot = post("/v1/restore", {{"snapshot", m_dir + "/none"}, {"name", "n"}});
  EXPECT_EQ(no_snapshot.status, 400) << no_snapshot.body;
  EXPECT_EQ(no_snapshot.body.value("field", ""), "snapshot") << no_snapshot.body;
  Answer bad_name = post("/v1/vms", vm("Bad Name"));
  EXPECT_EQ(bad_name.status, 400) << bad_name.body;
  EXPECT_EQ(bad_name.body.value("field", ""), "name") << bad_name.body;
  EXPECT_TRUE(bad_name.body.value("error", "").starts_with("name: 'Bad Name'")) << bad_name.body;
  Answer no_kernel = post("/v1/vms", {{"name", "k"}});
  EXPECT_EQ(no_kernel.status, 400) << no_kernel.body;
  EXPECT_EQ(no_kernel.body.value("field", ""), "kernel") << no_kernel.body;
  Answer not_json = send("POST", "/v1/restore");
  EXPECT_EQ(not_json.status, 400) << not_json.body;
  EXPECT_EQ(not_json.body.value("field", ""), "body") << not_json.body;
}

// A backup's fields are checked as a definition's are: a passphrase that is not text is not
// "no passphrase", and a field no backup has is not ignored.
TEST_F(ApiServerTest, ABackupRequestsFieldsAreChecked) {
  serve();
  ASSERT_EQ(post("/v1/vms", vm("a")).status, 201);
  Answer number = post("/v1/vms/a/backup", {{"repo", "/r"}, {"passphrase", 1234}});
  EXPECT_EQ(number.status, 400) << number.body;
  EXPECT_EQ(number.body.value("field", ""), "passphrase") << number.body;
  Answer unknown = post("/v1/vms/a/backup", {{"repo", "/r"}, {"passphrse", "typo"}});
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_EQ(unknown.body.value("field", ""), "passphrse") << unknown.body;
}

TEST_F(ApiServerTest, AnUnknownGuestOrJobIs404) {
  serve();
  for (const char* path : {"/v1/vms/nobody", "/v1/jobs/nothing"}) {
    Answer missing = send("GET", path);
    EXPECT_EQ(missing.status, 404) << path;
    EXPECT_FALSE(missing.body.contains("field")) << missing.body;
  }
}

TEST_F(ApiServerTest, WhatTheStateForbidsIs409) {
  serve();
  ASSERT_EQ(post("/v1/vms", vm("a")).status, 201);
  Answer taken = post("/v1/vms", vm("a"));
  EXPECT_EQ(taken.status, 409) << taken.body;
  EXPECT_EQ(taken.body.value("field", ""), "name") << taken.body;
  ASSERT_EQ(send("POST", "/v1/vms/a/start").status, 200);
  for (const auto& [method, path] :
       {std::pair{"POST", "/v1/vms/a/start"}, std::pair{"DELETE", "/v1/vms/a"},
        std::pair{"POST", "/v1/vms/a/resume"}}) {
    Answer refused = send(method, path);
    EXPECT_EQ(refused.status, 409) << method << " " << path << " " << refused.body;
    EXPECT_EQ(refused.body.value("field", ""), "state") << refused.body;
  }
  Answer bad_timeout = send("POST", "/v1/vms/a/stop?timeout=soon");
  EXPECT_EQ(bad_timeout.status, 400) << bad_timeout.body;
  EXPECT_EQ(bad_timeout.body.value("field", ""), "timeout") << bad_timeout.body;
}

// One damaged definition file does not stop the daemon: that guest is listed as broken, is
// refused (409) until mended or deleted, and its file is kept.
TEST_F(ApiServerTest, ABrokenDefinitionIsListedRefusedAndDeletable) {
  std::filesystem::create_directories(m_dir + "/state/vms");
  { std::ofstream(m_dir + "/state/vms/bad.json") << "{\"name\": \"bad\", \"cpus\": "; }
  serve();
  ASSERT_EQ(post("/v1/vms", vm("a")).status, 201);
  Answer listed = send("GET", "/v1/vms");
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(listed.body["vms"].size(), 2u) << listed.body;
  const json& broken = listed.body["vms"][1];
  EXPECT_EQ(broken.value("name", ""), "bad") << broken;
  EXPECT_EQ(broken.value("state", ""), "broken") << broken;
  EXPECT_NE(broken.value("error", "").find("bad.json"), std::string::npos) << broken;
  for (const auto& [method, path] :
       {std::pair{"GET", "/v1/vms/bad"}, std::pair{"POST", "/v1/vms/bad/start"}}) {
    Answer refused = send(method, path);
    EXPECT_EQ(refused.status, 409) << method << " " << path << " " << refused.body;
    EXPECT_NE(refused.body.value("error", "").find("bad.json"), std::string::npos) << refused.body;
  }
  EXPECT_EQ(post("/v1/vms", vm("bad")).status, 409);
  EXPECT_TRUE(std::filesystem::exists(m_dir + "/state/vms/bad.json"));
  EXPECT_EQ(send("DELETE", "/v1/vms/bad").status, 204);
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/state/vms/bad.json"));
  EXPECT_EQ(post("/v1/vms", vm("bad")).status, 201);
}

// A second daemon on the same socket is refused before it touches the first one's socket.
TEST_F(ApiServerTest, ASecondServerOnTheSocketIsRefused) {
  serve();
  ApiServer second(*m_registry, *m_supervisor, m_events, *PathPolicy::make({"/"}));
  auto served = second.serve(m_dir + "/api.sock", std::nullopt);
  ASSERT_FALSE(served);
  EXPECT_NE(served.error().message().find("is in use by another havend"), std::string::npos)
      << served.error().message();
  EXPECT_EQ(send("GET", "/v1/vms").status, 200) << "the first server still answers";
}

TEST_F(ApiServerTest, MemoryTheHostCannotCommitIs409) {
  serve(0.0001);  // a few MiB of a host: no 512 MiB guest fits
  ASSERT_EQ(post("/v1/vms", vm("big", "512M")).status, 201);
  Answer refused = send("POST", "/v1/vms/big/start");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(refused.body.value("field", ""), "memory") << refused.body;
}

// curl -d sends its body as a form; httplib then files the body under the request's
// parameters. The body is still the JSON it holds, and the query check looks at the URL only.
TEST_F(ApiServerTest, AJsonBodySentAsAFormIsStillJson) {
  serve();
  auto res = m_client->Post("/v1/vms", vm("formed").dump(), "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 201) << res->body;
}

TEST_F(ApiServerTest, QueryBytesThatAreNotTextAre400Not500) {
  serve();
  ASSERT_EQ(post("/v1/vms", vm("a")).status, 201);
  for (const char* path : {"/v1/vms/a/stop?timeout=%FF", "/v1/vms/a/stop?%FF=1"}) {
    Answer answer = send("POST", path);
    EXPECT_EQ(answer.status, 400) << path;
    ASSERT_TRUE(answer.body.is_object()) << path;
    EXPECT_NE(answer.body.value("error", "").find("'?"), std::string::npos) << answer.body;
  }
}

}  // namespace
}  // namespace haven::daemon
