#include "daemon/new_disk_dir.h"

#include <sys/stat.h>

#include <filesystem>

#include "base/sys.h"

namespace haven::daemon {

Result<NewDiskDir> NewDiskDir::make(const std::string& path, const std::string& name) {
  std::string parent = path.substr(0, path.rfind('/'));
  TRY(sys::ensure_directory(parent, 0700));
  if (::mkdir(path.c_str(), 0700) != 0)
    return with_kind<NewDiskDir>(
        errno_error("mkdir {} (left from an earlier guest '{}'?)", path, name), ErrorKind::conflict,
        "name");
  return NewDiskDir(path);
}

NewDiskDir::~NewDiskDir() {
  if (m_path.empty()) return;
  std::error_code ignored;  // best effort: the error that undoes the guest says more
  std::filesystem::remove_all(m_path, ignored);
}

}  // namespace haven::daemon
