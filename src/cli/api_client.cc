#include "cli/api_client.h"

#include <sys/socket.h>

#include <httplib.h>

#include <cstdlib>
#include <cstring>

#include "base/unix_socket.h"

namespace haven::cli {
namespace {

// Why a connection to SOCKET fails, as the system says it ("No such file or directory",
// "Connection refused", "Permission denied"): httplib only says "Connection".
std::string connect_failure(const std::string& socket) {
  auto connected = connect_unix(socket);
  if (connected) return "it accepted, then failed";
  int code = connected.error().code();
  return code ? std::strerror(code) : connected.error().message();
}

std::unexpected<Error> unreachable(const std::string& socket, httplib::Error error) {
  std::string why =
      error == httplib::Error::Connection ? connect_failure(socket) : httplib::to_string(error);
  return make_error(
      "cannot reach havend at {}: {} (is it running? give --socket or set HAVEN_SOCKET)", socket,
      why);
}

// The answer's status and JSON body (null when empty or not JSON).
Result<ApiResponse> to_response(const std::string& socket, httplib::Result& result) {
  if (!result) return unreachable(socket, result.error());
  ApiResponse response;
  response.status = result->status;
  if (!result->body.empty()) response.body = nlohmann::json::parse(result->body, nullptr, false);
  if (response.body.is_discarded()) response.body = nullptr;
  return response;
}

}  // namespace

std::string daemon_socket(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("HAVEN_SOCKET"); env && *env) return env;
  return kDefaultSocket;
}

std::string ApiResponse::error() const {
  if (body.is_object() && body.contains("error") && body["error"].is_string())
    return body["error"].get<std::string>();
  return "havend answered HTTP " + std::to_string(status);
}

ApiClient::ApiClient(std::string socket_path)
    : m_socket(std::move(socket_path)), m_client(std::make_unique<httplib::Client>(m_socket)) {
  m_client->set_address_family(AF_UNIX);
  m_client->set_read_timeout(std::chrono::minutes(5));  // stop waits for the guest
}

ApiClient::~ApiClient() = default;

Result<ApiResponse> ApiClient::request(std::string_view method, const std::string& path,
                                       const nlohmann::json* body) {
  std::string text = body ? body->dump() : std::string();
  httplib::Result result = method == "GET"    ? m_client->Get(path)
                           : method == "POST" ? m_client->Post(path, text, "application/json")
                           : method == "PUT"  ? m_client->Put(path, text, "application/json")
                                              : m_client->Delete(path);
  return to_response(m_socket, result);
}

Result<ApiResponse> ApiClient::post_bytes(const std::string& path, const std::string& bytes) {
  httplib::Result result = m_client->Post(path, bytes, "application/octet-stream");
  return to_response(m_socket, result);
}

Result<int> ApiClient::stream(const std::string& path,
                              const std::function<bool(std::string_view)>& sink) {
  m_client->set_read_timeout(std::chrono::hours(24 * 365));
  httplib::Result result = m_client->Get(
      path, [&](const char* data, size_t size) { return sink(std::string_view(data, size)); });
  if (!result && result.error() != httplib::Error::Canceled)
    return unreachable(m_socket, result.error());
  return result ? result->status : 0;
}

}  // namespace haven::cli
