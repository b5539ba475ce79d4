#pragma once

// `haven backup create --vm NAME`: every writable disk of a guest backed up into a repository,
// one snapshot per disk, each carrying the guest's VM config (so `haven restore` can boot it),
// which disk it is, and a UEFI guest's variable store (its boot entries). With changed-block
// tracking (a disk's cbt=on) only the chunks written since the repository's last snapshot of
// that disk are read.
//
// A running (or paused) guest keeps running: its VMM gives the backup a point-in-time view
// of every disk (block/point_in_time.h), all taken in one pause of a few milliseconds, so the
// snapshots are the guest's disks at one instant (crash-consistent together); it hands over
// its dirty bitmap, which it takes back if the backup fails and drops once the snapshot is
// committed. A stopped guest's disk is read directly, its bitmap file (IMAGE.cbt) reset
// after the commit; the guest cannot be started meanwhile.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "daemon/jobs.h"
#include "daemon/repository_sessions.h"
#include "daemon/supervisor.h"
#include "daemon/vm_record.h"

namespace haven::daemon {

struct VmBackupOptions {
  std::string repo;
  std::string passphrase;  // for an encrypted repository
  std::vector<std::string> tags;
};

// {"vm": NAME, "snapshots": [{"disk", "path", "id", "incremental", "running", "size",
// "changed_blocks" (64 KiB blocks written since the parent), "read_bytes", "new_bytes",
// "stored_bytes", "seconds"}]}. The caller has reserved the guest.
Result<nlohmann::json> back_up_vm(Supervisor& supervisor, RepositorySessions& repositories,
                                  const VmDefinition& definition, const VmBackupOptions& options,
                                  const Jobs::Report& report);

}  // namespace haven::daemon
