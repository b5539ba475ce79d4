#include "daemon/restore.h"

#include <optional>

#include "base/atomic_file.h"
#include "base/file_extents.h"
#include "daemon/new_disk_dir.h"
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
  // The snapshot's config is held to a definition's rules, and what a definition may not say
  // (consoles: havend sets them) is not taken from it: a tampered snapshot.json naming a host
  // file as a console would have the VMM, as root, truncate that file. A virtio console stays
  // as a device with nothing behind it, so the restored guest's devices still match.
  VmDefinition definition{name, snapshot.config, {}};
  definition.config.console = {};
  definition.config.console_log.reset();
  if (definition.config.virtio_console)
    definition.config.virtio_console = vmm::ConsoleConfig{vmm::ConsoleConfig::Kind::none, ""};
  TRY(about_field(vmm::validate(definition.config), ErrorKind::invalid, "snapshot"));

  // Made before the first copy; removed with what is in it on any failure.
  std::optional<NewDiskDir> made;
  auto copy_in = [&](const std::string& from,
                     const std::string& name_in_dir) -> Result<std::string> {
    if (!made) made.emplace(TRY(NewDiskDir::make(disk_dir, name)));
    std::string target = disk_dir + "/" + name_in_dir;
    TRY(copy_sparse_file(snapshot_dir + "/" + from, target, SourceLinks::refuse));
    return target;
  };
  for (size_t i = 0; i < definition.config.disks.size(); ++i) {
    if (!snapshot.disk_copies[i]) continue;  // read-only: in place
    definition.config.disks[i].path = TRY(with_context(
        copy_in(*snapshot.disk_copies[i], vmm::snapshot_disk_name(i)), "snapshot: disk {}", i));
  }
  // A UEFI guest's variable store goes with it (boot entries its installer wrote).
  if (snapshot.nvram_copy)
    definition.config.nvram = TRY(
        with_context(copy_in(*snapshot.nvram_copy, vmm::kSnapshotNvramName), "snapshot: nvram"));
  if (made) {
    TRY(fsync_directory(disk_dir));
    made->keep();
  }
  return definition;
}

}  // namespace haven::daemon
