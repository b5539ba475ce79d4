#include "daemon/restore.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/file_extents.h"
#include "base/sys.h"
#include "vmm/snapshot_layout.h"

namespace haven::daemon {

Result<VmDefinition> prepare_restore(const std::string& snapshot_dir, const std::string& name,
                                     const std::string& disk_dir) {
  TRY(validate_vm_name(name));
  if (snapshot_dir.empty() || snapshot_dir.front() != '/')
    return field_error(ErrorKind::invalid, "snapshot", "'{}' is not an absolute directory",
                       snapshot_dir);
  auto snapshot =
      TRY(about_field(vmm::read_snapshot_summary(snapshot_dir), ErrorKind::invalid, "snapshot"));
  VmDefinition definition{name, snapshot.config, {}};
  definition.config.console = {};
  definition.config.console_log.reset();

  std::vector<std::string> made;
  auto undo = [&] {  // best effort: the error that led here says more
    for (const std::string& file : made) (void)sys::remove_file(file, true);
    ::rmdir(disk_dir.c_str());
  };
  // The guest's own directory, before its first file: new, or it is another guest's.
  auto make_disk_dir = [&]() -> Result<void> {
    TRY(sys::ensure_directory(disk_dir.substr(0, disk_dir.rfind('/')), 0700));
    if (auto created = sys::make_directory(disk_dir, 0700); !created)
      return std::unexpected(Error::from_errno(
          fmt::format("mkdir {} (left from an earlier guest '{}'?)", disk_dir, name),
          created.error().code()));
    return {};
  };
  for (size_t i = 0; i < definition.config.disks.size(); ++i) {
    if (!snapshot.disk_copies[i]) continue;  // read-only: in place
    if (made.empty()) TRY(make_disk_dir());
    std::string target = disk_dir + "/" + vmm::snapshot_disk_name(i);
    auto copied = copy_sparse_file(snapshot_dir + "/" + *snapshot.disk_copies[i], target);
    if (!copied) {
      undo();
      return std::unexpected(
          std::move(copied).error().with_context(fmt::format("snapshot: disk {}", i)));
    }
    made.push_back(target);
    definition.config.disks[i].path = target;
  }
  // A UEFI guest's variable store goes with it (boot entries its installer wrote).
  if (snapshot.nvram_copy) {
    if (made.empty()) TRY(make_disk_dir());
    std::string target = disk_dir + "/" + vmm::kSnapshotNvramName;
    auto copied = copy_sparse_file(snapshot_dir + "/" + *snapshot.nvram_copy, target);
    if (!copied) {
      undo();
      return std::unexpected(std::move(copied).error().with_context("snapshot: nvram"));
    }
    made.push_back(target);
    definition.config.nvram = target;
  }
  if (!made.empty()) {
    if (auto synced = fsync_directory(disk_dir); !synced) {
      undo();
      return std::unexpected(std::move(synced).error());
    }
  }
  return definition;
}

}  // namespace haven::daemon
