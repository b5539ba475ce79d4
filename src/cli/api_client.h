#pragma once

// The CLI's side of havend's REST API: one HTTP request at a time over the daemon's Unix
// socket (--socket, else $HAVEN_SOCKET, else /run/haven/havend.sock).

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace httplib {
class Client;
}

namespace haven::cli {

inline constexpr const char* kDefaultSocket = "/run/haven/havend.sock";

// The socket to use: the flag's value if given, else $HAVEN_SOCKET, else the default.
std::string daemon_socket(const std::string& flag);

struct ApiResponse {
  int status = 0;
  nlohmann::json body;  // null when the response was empty or not JSON
  // The API's one-line error ("error" in the body), or the status line.
  std::string error() const;
};

class ApiClient {
 public:
  explicit ApiClient(std::string socket_path);
  ~ApiClient();
  // Fails only when the daemon cannot be reached; HTTP errors are in the response.
  Result<ApiResponse> request(std::string_view method, const std::string& path,
                              const nlohmann::json* body = nullptr);
  // POST of raw bytes (console input).
  Result<ApiResponse> post_bytes(const std::string& path, const std::string& bytes);
  const std::string& socket() const { return m_socket; }
  // GET with the body handed over piece by piece as it arrives (streaming endpoints).
  Result<int> stream(const std::string& path, const std::function<bool(std::string_view)>& sink);

 private:
  std::string m_socket;
  std::unique_ptr<httplib::Client> m_client;
};

}  // namespace haven::cli
