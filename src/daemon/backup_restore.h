#pragma once

// `haven restore --repo DIR SNAPSHOT --name NEW [--instant]`: a new guest booted from a
// backup snapshot. The snapshot's VM config (a `backup create --vm` snapshot carries its
// guest's) defines it, with the request's kernel (and initrd, command line) or firmware
// instead of its own boot when given (vmm/restored_boot.h); a bare disk's snapshot needs one
// of them. The snapshot's disk becomes STATE/disks/NEW/disk-N.img, a UEFI guest's variables
// STATE/disks/NEW/nvram.fd (those the snapshot carries, or a fresh store). Instant: the disk
// is a restoring image the VMM fills from the repository as the guest runs
// (vmm/restoring_disk.h), so the guest starts at once whatever the disk's size. Otherwise the
// disk is restored whole first.
//
// The new guest gets none of the original's TAP devices (the original may still use them)
// and none of its other writable disks (they are not in this snapshot); read-only disks are
// shared in place.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "daemon/backup_restore_request.h"
#include "daemon/repository_sessions.h"
#include "daemon/vm_record.h"
#include "store/snapshot_hold.h"

namespace haven::daemon {

struct PreparedRestore {
  VmDefinition definition;
  std::string snapshot_id;                        // the full id
  std::vector<std::string> notes;                 // what was left out, for the answer
  std::shared_ptr<store::Repository> repository;  // open, with its keys when encrypted
  std::optional<store::SnapshotHold> hold;        // instant: what keeps prune off the snapshot
};

// Reads the snapshot and writes nothing but the restored disk (instant: the restoring image,
// and a hold on the snapshot in the repository) and UEFI variables under `disk_dir`, which
// must not exist yet; on failure nothing is left.
Result<PreparedRestore> prepare_backup_restore(const BackupRestoreRequest& request,
                                               RepositorySessions& repositories,
                                               const std::string& disk_dir);

}  // namespace haven::daemon
