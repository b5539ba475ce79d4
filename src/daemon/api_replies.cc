#include "daemon/api_replies.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>

#include "daemon/http_status.h"

namespace haven::daemon {

using nlohmann::json;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Invalid UTF-8 (a request's path or name echoed back) is replaced, never thrown on.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

void reply_error(httplib::Response& res, const Error& error) {
  json body = {{"error", error.message()}};
  if (!error.field().empty()) body["field"] = error.field();
  reply(res, http_status(error.kind()), body);
}

void reply_error(httplib::Response& res, const std::unexpected<Error>& error) {
  reply_error(res, error.error());
}

Error request_error(Error error) {
  if (error.kind() != ErrorKind::internal) return error;
  return std::move(error).with_kind(ErrorKind::invalid);
}

json describe(const VmDefinition& definition, const VmStatus& status) {
  json vm = json::parse(vm_definition_to_json(definition));
  vm["status"] = vm_status_to_json(status);
  vm["state"] = to_string(status.state);
  return vm;
}

json describe_broken(const VmRegistry::Broken& broken, const VmStatus& status) {
  json vm = {{"name", broken.name}, {"state", "broken"}, {"error", broken.error}};
  vm["status"] = vm_status_to_json(status);
  if (!is_up(status.state)) vm["status"]["reason"] = broken.error;
  return vm;
}

namespace {

// `text` as a number, all of it: a whole one when `integer`; nullopt for anything else (empty,
// trailing bytes, inf, nan, out of range of a double).
std::optional<double> parse_query_number(const std::string& text, bool integer) {
  const char* end = text.data() + text.size();
  if (integer) {
    int64_t value = 0;
    auto [at, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || at != end) return std::nullopt;
    return static_cast<double>(value);
  }
  double value = 0;
  auto [at, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || at != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

namespace {

// The parameters of the request target's query string only: httplib also puts a form-encoded
// body's fields into req.params (curl -d sends JSON that way), and those are no query.
httplib::Params url_query(const httplib::Request& req) {
  httplib::Params params;
  if (auto mark = req.target.find('?'); mark != std::string::npos)
    httplib::detail::parse_query_text(req.target.substr(mark + 1), params);
  return params;
}

// `text` fit for a message and a JSON field: bytes outside printable ASCII become '?'.
std::string printable(std::string text) {
  for (char& c : text)
    if (c < 0x20 || c > 0x7e) c = '?';
  return text;
}

}  // namespace

Result<void> check_query(const httplib::Request& req,
                         const std::vector<ApiServer::QueryParameter>& query) {
  httplib::Params params = url_query(req);
  for (const auto& [name, value] : params) {
    auto taken = std::find_if(query.begin(), query.end(),
                              [&](const ApiServer::QueryParameter& p) { return p.name == name; });
    std::string shown = printable(name);
    if (taken == query.end()) {
      std::string known;
      for (const auto& parameter : query) known += (known.empty() ? "" : ", ") + parameter.name;
      return field_error(ErrorKind::invalid, shown, "{} {} takes no query parameter '{}' ({})",
                         req.method, req.path, shown,
                         known.empty() ? "it takes none" : "it takes " + known);
    }
    if (params.count(name) > 1)
      return field_error(ErrorKind::invalid, shown, "query parameter '{}' is given twice", shown);
    auto number = parse_query_number(value, taken->integer);
    if (!number || *number < taken->minimum || *number > taken->maximum)
      return field_error(ErrorKind::invalid, shown,
                         "query parameter '{}' is '{}': {} from {} to {}", shown, printable(value),
                         taken->integer ? "a whole number" : "a number", taken->minimum,
                         taken->maximum);
  }
  return {};
}

std::optional<double> query_value(const httplib::Request& req, const std::string& name) {
  httplib::Params params = url_query(req);
  auto found = params.find(name);
  if (found == params.end()) return std::nullopt;
  return parse_query_number(found->second, false);  // a whole number reads too
}

void route(httplib::Server& server, std::vector<ApiServer::Route>* record, const char* method,
           const std::string& pattern, httplib::Server::Handler handler) {
  route(server, record, method, pattern, {}, std::move(handler));
}

void route(httplib::Server& server, std::vector<ApiServer::Route>* record, const char* method,
           const std::string& pattern, std::vector<ApiServer::QueryParameter> query,
           httplib::Server::Handler handler) {
  if (record) record->push_back({method, pattern, query});
  httplib::Server::Handler checked = [query = std::move(query), handler = std::move(handler)](
                                         const httplib::Request& req, httplib::Response& res) {
    if (auto valid = check_query(req, query); !valid) return reply_error(res, valid.error());
    handler(req, res);
  };
  std::string_view verb = method;
  if (verb == "GET")
    server.Get(pattern, std::move(checked));
  else if (verb == "POST")
    server.Post(pattern, std::move(checked));
  else if (verb == "PUT")
    server.Put(pattern, std::move(checked));
  else
    server.Delete(pattern, std::move(checked));
}

}  // namespace haven::daemon
