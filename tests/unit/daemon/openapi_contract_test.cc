// docs/openapi.yaml against the routes havend really serves, both ways: every route in the
// code is in the spec and every path and method of the spec is served; every spec route,
// asked about a guest or job that does not exist or with an empty body, answers with one of
// the statuses the spec lists for it. (The spec is read line by line in the block style it is
// written in — paths at two spaces, methods at four, statuses at eight; a spec in another
// shape fails this test loudly rather than passing.)

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "unit/daemon/api_harness.h"

namespace haven::daemon {
namespace {

struct SpecRoute {
  std::set<int> statuses;
};

struct Spec {
  std::map<std::pair<std::string, std::string>, SpecRoute> routes;  // (METHOD, path) -> route
  std::map<std::string, std::string> text_of_path;                  // path -> its block, for enums
};

Spec read_spec(const std::string& file) {
  std::ifstream in(file);
  EXPECT_TRUE(in) << "cannot read " << file;
  Spec spec;
  std::string line, path, method;
  bool in_paths = false;
  static const std::regex path_line(R"(^  (/v1/[^:]*):\s*$)");
  static const std::regex method_line(R"(^    (get|post|put|delete):\s*$)");
  static const std::regex status_line("^        \"([0-9]{3})\":");
  std::smatch match;
  while (std::getline(in, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!in_paths) continue;
    if (!line.empty() && line[0] != ' ') break;  // the next top-level section
    if (std::regex_search(line, match, path_line)) {
      path = match[1];
      method.clear();
    } else if (std::regex_search(line, match, method_line)) {
      method = match[1];
      for (char& c : method) c = static_cast<char>(std::toupper(c));
      spec.routes[{method, path}];
    } else if (!method.empty() && std::regex_search(line, match, status_line)) {
      spec.routes[{method, path}].statuses.insert(std::stoi(match[1]));
    }
    if (!path.empty()) spec.text_of_path[path] += line + "\n";
  }
  return spec;
}

// /v1/vms/{name}/{action} and /v1/vms/([^/]+)/(start|stop) both become /v1/vms/{}/{}.
std::string spec_shape(const std::string& path) {
  return std::regex_replace(path, std::regex(R"(\{[^}]*\})"), "{}");
}
std::string code_shape(const std::string& pattern) {
  return std::regex_replace(pattern, std::regex(R"(\([^)]*\))"), "{}");
}

class OpenApiContractTest : public ApiHarness {
 protected:
  void SetUp() override {
    ApiHarness::SetUp();
    serve();
    m_client->set_read_timeout(10, 0);
    m_spec = read_spec(std::string(HAVEN_SOURCE_DIR) + "/docs/openapi.yaml");
  }

  Spec m_spec;
};

TEST_F(OpenApiContractTest, TheSpecReadsAsExpected) {
  // A reader that found nothing would make the other tests pass vacuously.
  EXPECT_GE(m_spec.routes.size(), 15u);
  for (const auto& [key, route] : m_spec.routes)
    EXPECT_FALSE(route.statuses.empty()) << key.first << " " << key.second << " lists no status";
}

TEST_F(OpenApiContractTest, EveryRouteServedIsInTheSpecAndTheOtherWayRound) {
  std::set<std::pair<std::string, std::string>> served, specified;
  for (const ApiServer::Route& route : m_api->routes()) {
    served.insert({route.method, code_shape(route.pattern)});
    // A fixed set of words in the path (start|stop|...) is the spec parameter's enum.
    std::smatch words;
    std::string pattern = route.pattern;
    static const std::regex alternation(R"(\(([a-z_]+(\|[a-z_]+)+)\))");
    if (std::regex_search(pattern, words, alternation)) {
      std::string path;
      for (const auto& [key, _] : m_spec.routes)
        if (key.first == route.method && spec_shape(key.second) == code_shape(route.pattern))
          path = key.second;
      std::string list = std::regex_replace(std::string(words[1]), std::regex(R"(\|)"), ", ");
      EXPECT_NE(m_spec.text_of_path[path].find("enum: [" + list + "]"), std::string::npos)
          << route.pattern << ": the spec's enum for " << path << " is not [" << list << "]";
    }
  }
  for (const auto& [key, _] : m_spec.routes) specified.insert({key.first, spec_shape(key.second)});
  for (const auto& route : served)
    EXPECT_TRUE(specified.count(route))
        << route.first << " " << route.second << " is served but not in docs/openapi.yaml";
  for (const auto& route : specified)
    EXPECT_TRUE(served.count(route))
        << route.first << " " << route.second << " is in docs/openapi.yaml but not served";
}

TEST_F(OpenApiContractTest, EachRouteAnswersWithAStatusItsSpecLists) {
  httplib::Client& client = *m_client;
  for (const auto& [key, route] : m_spec.routes) {
    const auto& [method, path] = key;
    if (path == "/v1/events") continue;  // a stream that stays open: served, not probed here
    // About things that do not exist: a guest, a job; an empty body.
    std::string concrete = std::regex_replace(path, std::regex(R"(\{action\})"), "start");
    concrete = std::regex_replace(concrete, std::regex(R"(\{[^}]*\})"), "nobody");
    httplib::Result res = method == "GET"      ? client.Get(concrete)
                          : method == "PUT"    ? client.Put(concrete, "{}", "application/json")
                          : method == "DELETE" ? client.Delete(concrete)
                                               : client.Post(concrete, "{}", "application/json");
    ASSERT_TRUE(res) << method << " " << concrete << ": no answer";
    EXPECT_FALSE(res->body.empty())
        << method << " " << concrete << ": not routed (" << res->status << ")";
    EXPECT_TRUE(route.statuses.count(res->status))
        << method << " " << path << " answered " << res->status << " (" << res->body
        << "), which docs/openapi.yaml does not list for it";
  }
}

}  // namespace
}  // namespace haven::daemon
