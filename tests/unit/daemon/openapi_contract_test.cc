// docs/openapi.yaml against the routes havend really serves, both ways: every route in the
// code is in the spec and every path and method of the spec is served; every spec route,
// asked about a guest or job that does not exist or with an empty body, answers with one of
// the statuses the spec lists for it; every route takes the query parameters its spec lists,
// of the same type and range, and answers 400 to others and to values out of range. (The spec
// is read line by line in the block style it is written in — paths at two spaces, methods at
// four, statuses at eight, a query parameter's schema on one line; a spec in another shape
// fails this test loudly rather than passing.)

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "unit/daemon/api_harness.h"

namespace haven::daemon {
namespace {

// A query parameter as the spec gives it: {type: integer|number, minimum: A, maximum: B}.
struct SpecQuery {
  bool integer = false;
  double minimum = 0, maximum = 0;
  bool operator==(const SpecQuery&) const = default;
};
using QueryList = std::map<std::string, SpecQuery>;

struct SpecRoute {
  std::set<int> statuses;
  QueryList query;  // its own and its path's
};

struct Spec {
  std::map<std::pair<std::string, std::string>, SpecRoute> routes;  // (METHOD, path) -> route
  std::map<std::string, std::string> text_of_path;                  // path -> its block, for enums
  std::map<std::string, QueryList> path_query;                      // path-level query parameters
  std::vector<std::string> problems;                                // what could not be read
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
  static const std::regex name_line(R"(^ +- name: ([a-z_]+)\s*$)");
  static const std::regex query_line(R"(^ +in: query\s*$)");
  static const std::regex schema_line(
      R"(^ +schema: \{type: (integer|number), minimum: ([0-9.]+), maximum: ([0-9.]+)\}\s*$)");
  std::smatch match;
  std::string parameter;  // the last "- name:" seen, and whether it is a query parameter
  bool query = false;
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
    } else if (std::regex_search(line, match, name_line)) {
      parameter = match[1];
      query = false;
    } else if (!parameter.empty() && std::regex_search(line, match, query_line)) {
      query = true;
    } else if (query && line.find("schema:") != std::string::npos) {
      if (std::regex_search(line, match, schema_line)) {
        SpecQuery read{match[1] == "integer", std::stod(match[2]), std::stod(match[3])};
        (method.empty() ? spec.path_query[path] : spec.routes[{method, path}].query)[parameter] =
            read;
      } else {
        spec.problems.push_back(path + " ?" + parameter + ": schema not read: " + line);
      }
      parameter.clear();
      query = false;
    }
    if (!path.empty()) spec.text_of_path[path] += line + "\n";
  }
  for (auto& [key, route] : spec.routes)
    for (const auto& [name, read] : spec.path_query[key.second]) route.query.emplace(name, read);
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
  size_t queries = 0;
  for (const auto& [key, route] : m_spec.routes) {
    EXPECT_FALSE(route.statuses.empty()) << key.first << " " << key.second << " lists no status";
    queries += route.query.size();
  }
  EXPECT_GE(queries, 4u);
  for (const std::string& problem : m_spec.problems) ADD_FAILURE() << problem;
}

// The spec route that `route` serves, or nullptr.
const SpecRoute* spec_of(const Spec& spec, const ApiServer::Route& route) {
  for (const auto& [key, specified] : spec.routes)
    if (key.first == route.method && spec_shape(key.second) == code_shape(route.pattern))
      return &specified;
  return nullptr;
}

TEST_F(OpenApiContractTest, EachRouteTakesTheQueryParametersItsSpecLists) {
  for (const ApiServer::Route& route : m_api->routes()) {
    const SpecRoute* specified = spec_of(m_spec, route);
    if (!specified) continue;  // reported by the test above
    QueryList served;
    for (const auto& parameter : route.query)
      served[parameter.name] = {parameter.integer, parameter.minimum, parameter.maximum};
    for (const auto& [name, read] : served) {
      auto in_spec = specified->query.find(name);
      if (in_spec == specified->query.end())
        ADD_FAILURE() << route.method << " " << route.pattern << " takes ?" << name
                      << ", which docs/openapi.yaml does not list";
      else
        EXPECT_EQ(in_spec->second, read)
            << route.method << " " << route.pattern << " ?" << name << ": the spec says "
            << (in_spec->second.integer ? "integer " : "number ") << in_spec->second.minimum << ".."
            << in_spec->second.maximum << ", the code " << (read.integer ? "integer " : "number ")
            << read.minimum << ".." << read.maximum;
    }
    for (const auto& [name, _] : specified->query)
      EXPECT_TRUE(served.count(name))
          << route.method << " " << route.pattern << ": the spec lists ?" << name
          << ", which the route does not take";
  }
}

TEST_F(OpenApiContractTest, QueryParametersOutOfTheirRangeOrUnknownAre400) {
  for (const auto& [key, route] : m_spec.routes) {
    const auto& [method, path] = key;
    std::string concrete = std::regex_replace(path, std::regex(R"(\{action\})"), "stop");
    concrete = std::regex_replace(concrete, std::regex(R"(\{[^}]*\})"), "nobody");
    std::vector<std::pair<std::string, std::string>> refused = {{"bogus=1", "bogus"}};
    for (const auto& [name, read] : route.query) {
      refused.push_back({name + "=abc", name});
      refused.push_back({name + "=" + fmt::format("{}", read.maximum + 1), name});
      refused.push_back({name + "=-1", name});
      refused.push_back({name + "=nan", name});
      refused.push_back({name + "=0&" + name + "=1", name});  // (httplib drops exact repeats)
      if (read.integer) refused.push_back({name + "=0.5", name});
    }
    for (const auto& [query, field] : refused) {
      Answer answer = send(method, concrete + "?" + query);
      EXPECT_EQ(answer.status, 400)
          << method << " " << concrete << "?" << query << ": " << answer.body;
      std::string named = answer.body.is_object() ? answer.body.value("field", "") : "";
      EXPECT_EQ(named, field) << answer.body;
      EXPECT_TRUE(route.statuses.count(400)) << method << " " << path << " does not list 400";
    }
  }
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
