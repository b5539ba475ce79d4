#pragma once

// What every route of havend's API (daemon/api_server.h) answers with, and how routes are
// registered: shared by the files that serve each resource (api_vms.cc, api_protection.cc,
// api_console.cc). Needs cpp-httplib, so only those files include it.

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "daemon/api_server.h"
#include "daemon/vm_record.h"
#include "daemon/vm_registry.h"

namespace haven::daemon {

// A JSON answer with `status`.
void reply(httplib::Response& res, int status, const nlohmann::json& body);

// {"error": MESSAGE, "field": FIELD} with the status of the error's kind (daemon/http_status.h).
void reply_error(httplib::Response& res, const Error& error);
void reply_error(httplib::Response& res, const std::unexpected<Error>& error);

// Whatever fails while a request body is read is the request's fault: an error of no kind
// becomes invalid.
Error request_error(Error error);

// A VM as the API shows it: its definition, status and state.
nlohmann::json describe(const VmDefinition& definition, const VmStatus& status);
// A guest whose definition did not load: its name, state "broken", the error, and its status
// (whose reason is the error unless its VMM still runs).
nlohmann::json describe_broken(const VmRegistry::Broken& broken, const VmStatus& status);

// Serves `handler` for METHOD PATTERN and notes the route in `record` (when given). The route
// takes the query parameters in `query` and no others (see ApiServer::QueryParameter); the
// handler runs only for a request whose query passed the check.
void route(httplib::Server& server, std::vector<ApiServer::Route>* record, const char* method,
           const std::string& pattern, httplib::Server::Handler handler);
void route(httplib::Server& server, std::vector<ApiServer::Route>* record, const char* method,
           const std::string& pattern, std::vector<ApiServer::QueryParameter> query,
           httplib::Server::Handler handler);

// Checks a request's query against the parameters its route takes.
Result<void> check_query(const httplib::Request& req,
                         const std::vector<ApiServer::QueryParameter>& query);
// The value of query parameter `name` of a request route() has checked; nullopt when absent.
std::optional<double> query_value(const httplib::Request& req, const std::string& name);

}  // namespace haven::daemon
