#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sys.h"

namespace haven {
namespace {

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<void> fsync_directory(const std::string& directory) {
  auto fd = TRY(sys::open(directory, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return errno_error("fsync {}", directory);
  return {};
}

Result<void> write_file_atomic(const std::string& path, std::span<const uint8_t> data,
                               bool exclusive, unsigned mode) {
  std::string temporary = path + ".tmp-XXXXXX";
  int raw = ::mkstemp(temporary.data());
  if (raw < 0) return errno_error("create {}", temporary);
  UniqueFd fd(raw);
  auto written = sys::write_all(fd.get(), data);
  if (written && ::fsync(fd.get()) != 0) written = errno_error("fsync {}", temporary);
  if (written && ::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0)
    written = errno_error("chmod {}", temporary);
  if (written) {
    // link() refuses an existing target; rename() replaces it atomically.
    if (exclusive ? ::link(temporary.c_str(), path.c_str()) != 0
                  : ::rename(temporary.c_str(), path.c_str()) != 0)
      written = errno_error("{} {}", exclusive ? "create" : "replace", path);
  }
  if (!written || exclusive) ::unlink(temporary.c_str());
  if (!written) return std::unexpected(written.error());
  return fsync_parent_directory(path);
}

Result<void> fsync_parent_directory(const std::string& path) {
  return fsync_directory(parent_of(path));
}

}  // namespace haven
