#include "vmm/control_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/unix_socket.h"

namespace haven::vmm {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxMessage = 64 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(2);

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd entry{fd, events, 0};
    int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

// Reads one line (or up to EOF) from non-blocking `fd`.
Result<std::string> read_line(int fd, Clock::time_point deadline) {
  std::string text;
  char buffer[4096];
  while (text.find('\n') == std::string::npos) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      text.append(buffer, static_cast<size_t>(n));
      if (text.size() > kMaxMessage) return make_error("message longer than {} bytes", kMaxMessage);
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return errno_error("read");
    if (!wait_for(fd, POLLIN, deadline)) return make_error("timed out");
  }
  if (auto end = text.find('\n'); end != std::string::npos) text.resize(end);
  return text;
}

Result<void> write_line(int fd, std::string text, Clock::time_point deadline) {
  text += '\n';
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return errno_error("write");
    if (!wait_for(fd, POLLOUT, deadline)) return make_error("timed out");
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<ControlSocket>> ControlSocket::open(const std::string& path) {
  auto fd = TRY(with_context(listen_unix(path, 4), "control socket"));
  if (::chmod(path.c_str(), 0600) != 0) return errno_error("chmod {}", path);
  return std::make_unique<ControlSocket>(std::move(fd), path);
}

ControlSocket::~ControlSocket() {
  ::unlink(m_path.c_str());
}

Result<void> ControlSocket::attach(EventLoop& loop, Handler handler) {
  return loop.add(m_listener.get(), [this, handler = std::move(handler)] { serve_one(handler); });
}

void ControlSocket::serve_one(const Handler& handler) {
  UniqueFd client(::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!client) return;
  auto deadline = Clock::now() + kRequestTimeout;
  auto line = read_line(client.get(), deadline);
  if (!line) {
    log::warn("control socket: {}", line.error().message());
    return;
  }
  json answer;
  json request = json::parse(*line, nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    answer = {{"error", "the request is not a JSON object on one line"}};
  } else {
    try {
      answer = handler(request);
    } catch (const json::exception& error) {
      answer = {{"error", fmt::format("bad request: {}", error.what())}};
    }
  }
  if (auto written = write_line(client.get(), answer.dump(), Clock::now() + kRequestTimeout);
      !written)
    log::warn("control socket: answering: {}", written.error().message());
}

Result<json> control_request(const std::string& path, const json& request,
                             std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto fd = TRY(connect_unix(path));
  TRY(with_context(write_line(fd.get(), request.dump(), deadline), "{}", path));
  auto line = TRY(with_context(read_line(fd.get(), deadline), "{}", path));
  json answer;
  try {
    answer = json::parse(line);
  } catch (const json::exception& error) {
    return make_error("{}: the VMM answered something that is not JSON: {}", path, error.what());
  }
  if (!answer.is_object()) return make_error("{}: the VMM's answer is not an object", path);
  if (answer.contains("error") && answer["error"].is_string()) {
    Error error = Error::from_message(answer["error"].get<std::string>());
    ErrorKind kind = ErrorKind::internal;
    if (answer.contains("kind") && answer["kind"].is_string())
      kind = error_kind_from_string(answer["kind"].get<std::string>());
    std::string field = answer.value("field", std::string());
    return std::unexpected(std::move(error).with_kind(kind, std::move(field)));
  }
  return answer;
}

nlohmann::json control_error_answer(const Error& error) {
  json answer = {{"error", error.message()}};
  if (error.kind() != ErrorKind::internal) answer["kind"] = to_string(error.kind());
  if (!error.field().empty()) answer["field"] = error.field();
  return answer;
}

}  // namespace haven::vmm
