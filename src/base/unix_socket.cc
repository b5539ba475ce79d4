#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>

namespace haven {
namespace {

Result<sockaddr_un> address_of(const std::string& path) {
  sockaddr_un address{};
  if (path.size() >= sizeof(address.sun_path))
    return make_error("socket path {} is too long ({} bytes at most)", path,
                      sizeof(address.sun_path) - 1);
  address.sun_family = AF_UNIX;
  std::copy(path.begin(), path.end(), address.sun_path);
  return address;
}

}  // namespace

Result<UniqueFd> listen_unix(const std::string& path, int backlog) {
  sockaddr_un address = TRY(address_of(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return make_error("{}: exists and is not a socket", path);
    // A socket someone still listens on is theirs; one nobody answers is left from an
    // earlier run and replaced.
    if (connect_unix(path)) return make_error("{}: in use by another process", path);
    ::unlink(path.c_str());
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno_error("socket for {}", path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0)
    return errno_error("bind {}", path);
  if (::listen(fd.get(), backlog) < 0) return errno_error("listen on {}", path);
  return fd;
}

Result<UniqueFd> connect_unix(const std::string& path) {
  sockaddr_un address = TRY(address_of(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno_error("socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
    return errno_error("connect {}", path);
  return fd;
}

}  // namespace haven
