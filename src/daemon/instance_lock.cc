#include "daemon/instance_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/file_lock.h"
#include "base/sys.h"

namespace haven::daemon {

Result<UniqueFd> claim_instance_lock(const std::string& lock_path, const std::string& what) {
  auto fd = TRY(sys::open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!TRY(sys::try_lock(fd.get(), sys::LockMode::exclusive, lock_path))) {
    // The holder wrote its pid (after forking, too); /proc/locks would name the process that
    // took the lock, which a daemon's parent was.
    auto written = sys::read_file(lock_path, 32);
    std::string pid = written ? std::string(written->begin(), written->end()) : std::string();
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    bool number = !pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos;
    return make_error("{} is in use by another havend ({}); stop it first or choose another", what,
                      number ? "pid " + pid : sys::describe_lock_holders(fd.get()));
  }
  TRY(record_instance_pid(fd.get(), lock_path));
  return fd;
}

Result<UniqueFd> claim_socket(const std::string& socket_path) {
  if (size_t slash = socket_path.rfind('/'); slash != std::string::npos && slash > 0) {
    std::string directory = socket_path.substr(0, slash);
    TRY(with_context(sys::ensure_directory(directory, 0755), "the socket's directory"));
  }
  return claim_instance_lock(socket_path + ".lock", "socket " + socket_path);
}

Result<void> record_instance_pid(int lock_fd, const std::string& lock_path) {
  // The pid is for people (and the next claimant's message); the lock is what counts.
  std::string pid = std::to_string(::getpid()) + "\n";
  TRY(sys::resize(lock_fd, 0, lock_path));
  return sys::write_at(lock_fd, {reinterpret_cast<const uint8_t*>(pid.data()), pid.size()}, 0);
}

}  // namespace haven::daemon
