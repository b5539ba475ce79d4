#include "daemon/api_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "support/fake_vmm.h"

namespace haven::daemon {
namespace {

using nlohmann::json;

// A real havend API on a Unix socket in a temporary directory, over a supervisor that starts
// the fake VMM: the statuses and fields of its errors, as a client sees them.
class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-api-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
    testing::write_fake_vmm(m_dir + "/fake-vmm");
  }
  void TearDown() override {
    if (m_api) m_api->stop();
    if (m_serving.joinable()) m_serving.join();
    m_api.reset();
    for (const auto& name : {"a", "big"})
      if (m_supervisor)
        if (auto pid = m_supervisor->status(name).pid) ::kill(-*pid, SIGKILL);
    m_supervisor.reset();
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::filesystem::remove_all(m_dir);
  }
  // Serves the API and waits (up to 20 s) until it answers.
  void serve(double overcommit = 1.5) {
    std::filesystem::create_directories(m_dir + "/state");
    auto registry = VmRegistry::open(m_dir + "/state/vms");
    ASSERT_TRUE(registry) << registry.error().message();
    m_registry = std::move(*registry);
    auto supervisor = Supervisor::open({m_dir + "/state", m_dir + "/fake-vmm", overcommit, false},
                                       [](const std::string&, const VmStatus&) {});
    ASSERT_TRUE(supervisor) << supervisor.error().message();
    m_supervisor = std::move(*supervisor);
    m_api = std::make_unique<ApiServer>(*m_registry, *m_supervisor, m_events);
    m_serving = std::thread([this] { m_served = m_api->serve(m_dir + "/api.sock", std::nullopt); });
    m_client = std::make_unique<httplib::Client>(m_dir + "/api.sock");
    m_client->set_address_family(AF_UNIX);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!m_client->Get("/v1/vms") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    ASSERT_TRUE(m_client->Get("/v1/vms")) << "the API never answered";
  }
  struct Answer {
    int status = 0;
    json body;
  };
  Answer post(const std::string& path, const json& body) {
    auto res = m_client->Post(path, body.dump(), "application/json");
    if (!res) return {};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  Answer send(const std::string& method, const std::string& path) {
    httplib::Result res = method == "GET"      ? m_client->Get(path)
                          : method == "DELETE" ? m_client->Delete(path)
                                               : m_client->Post(path, "", "application/json");
    if (!res) return {};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  static json vm(const std::string& name, const std::string& memory = "64M") {
    return {{"name", name}, {"kernel", "/k/guest"}, {"memory", memory}};
  }

  std::string m_dir;
  EventLog m_events;
  std::unique_ptr<VmRegistry> m_registry;
  std::unique_ptr<Supervisor> m_supervisor;
  std::unique_ptr<ApiServer> m_api;
  std::thread m_serving;
  Result<void> m_served;
  std::unique_ptr<httplib::Client> m_client;
};

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

TEST_F(ApiServerTest, MemoryTheHostCannotCommitIs409) {
  serve(0.0001);  // a few MiB of a host: no 512 MiB guest fits
  ASSERT_EQ(post("/v1/vms", vm("big", "512M")).status, 201);
  Answer refused = send("POST", "/v1/vms/big/start");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(refused.body.value("field", ""), "memory") << refused.body;
}

}  // namespace
}  // namespace haven::daemon
