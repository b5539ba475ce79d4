#include "daemon/api_replies.h"

#include "daemon/http_status.h"

namespace haven::daemon {

using nlohmann::json;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
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

void route(httplib::Server& server, std::vector<ApiServer::Route>* record, const char* method,
           const std::string& pattern, httplib::Server::Handler handler) {
  if (record) record->push_back({method, pattern});
  std::string_view verb = method;
  if (verb == "GET")
    server.Get(pattern, std::move(handler));
  else if (verb == "POST")
    server.Post(pattern, std::move(handler));
  else if (verb == "PUT")
    server.Put(pattern, std::move(handler));
  else
    server.Delete(pattern, std::move(handler));
}

}  // namespace haven::daemon
