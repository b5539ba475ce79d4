#pragma once

// A new guest's directory of disks (its copies of a snapshot's disks, its UEFI variables):
// made fresh, and removed with all in it unless the guest's creation succeeds (keep()).

#include <string>

#include "base/error.h"

namespace haven::daemon {

class NewDiskDir {
 public:
  // Makes `path` (and its parent); one already there is refused as a conflict on the guest's
  // `name`: it was left by an earlier guest of that name.
  static Result<NewDiskDir> make(const std::string& path, const std::string& name);
  NewDiskDir(NewDiskDir&& other) noexcept : m_path(std::move(other.m_path)) {
    other.m_path.clear();
  }
  NewDiskDir(const NewDiskDir&) = delete;
  NewDiskDir& operator=(const NewDiskDir&) = delete;
  NewDiskDir& operator=(NewDiskDir&&) = delete;
  ~NewDiskDir();
  // The guest exists: the directory stays.
  void keep() { m_path.clear(); }

 private:
  explicit NewDiskDir(std::string path) : m_path(std::move(path)) {}
  std::string m_path;
};

}  // namespace haven::daemon
