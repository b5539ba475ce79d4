#pragma once

// A real havend API on a Unix socket in a temporary directory, over a supervisor that starts
// the fake VMM (tests/support/fake_vmm.h), and a client for it: the fixture of the API's tests.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "daemon/api_server.h"
#include "support/fake_vmm.h"

namespace haven::daemon {

class ApiHarness : public ::testing::Test {
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
  // Serves the API (and on TCP when `tcp` is given) and waits (up to 20 s) until it answers.
  void serve(double overcommit = 1.5, std::optional<ApiServer::Tcp> tcp = std::nullopt) {
    std::filesystem::create_directories(m_dir + "/state");
    auto registry = VmRegistry::open(m_dir + "/state/vms");
    ASSERT_TRUE(registry) << registry.error().message();
    m_registry = std::move(*registry);
    auto supervisor = Supervisor::open({m_dir + "/state", m_dir + "/fake-vmm", overcommit, false},
                                       [](const std::string&, const VmStatus&) {});
    ASSERT_TRUE(supervisor) << supervisor.error().message();
    m_supervisor = std::move(*supervisor);
    auto paths = PathPolicy::make(m_allowed_paths);
    ASSERT_TRUE(paths) << paths.error().message();
    m_api = std::make_unique<ApiServer>(*m_registry, *m_supervisor, m_events, std::move(*paths));
    m_api->set_audit_log(std::move(m_audit));
    m_serving = std::thread([this, tcp] { m_served = m_api->serve(m_dir + "/api.sock", tcp); });
    m_client = std::make_unique<httplib::Client>(m_dir + "/api.sock");
    m_client->set_address_family(AF_UNIX);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!m_client->Get("/v1/vms") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    ASSERT_TRUE(m_client->Get("/v1/vms")) << "the API never answered";
  }
  struct Answer {
    int status = 0;
    nlohmann::json body;
  };
  Answer post(const std::string& path, const nlohmann::json& body) {
    auto res = m_client->Post(path, body.dump(), "application/json");
    if (!res) return {};
    return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
  }
  Answer send(const std::string& method, const std::string& path) {
    httplib::Result res = method == "GET"      ? m_client->Get(path)
                          : method == "DELETE" ? m_client->Delete(path)
                          : method == "PUT"    ? m_client->Put(path, "", "application/json")
                                               : m_client->Post(path, "", "application/json");
    if (!res) return {};
    return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
  }
  static nlohmann::json vm(const std::string& name, const std::string& memory = "64M") {
    return {{"name", name}, {"kernel", "/k/guest"}, {"memory", memory}};
  }

  std::string m_dir;
  std::vector<std::string> m_allowed_paths{"/"};  // havend --allow-path (set before serve())
  AuditLog m_audit;                               // handed to the next serve()
  EventLog m_events;
  std::unique_ptr<VmRegistry> m_registry;
  std::unique_ptr<Supervisor> m_supervisor;
  std::unique_ptr<ApiServer> m_api;
  std::thread m_serving;
  Result<void> m_served;
  std::unique_ptr<httplib::Client> m_client;
};

}  // namespace haven::daemon
