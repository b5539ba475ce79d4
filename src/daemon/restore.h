#pragma once

#include <string>

#include "base/error.h"
#include "daemon/vm_record.h"

namespace haven::daemon {

// The definition of a new guest `name` continuing the snapshot in `snapshot_dir`: the
// snapshot's VM config, with each writable disk replaced by a copy of the snapshot's image
// made in `disk_dir` (sparse, a reflink where the file system allows), so the snapshot stays
// as it was and can be restored again. Read-only disks are used in place. On failure nothing
// is left in `disk_dir`.
Result<VmDefinition> prepare_restore(const std::string& snapshot_dir, const std::string& name,
                                     const std::string& disk_dir);

}  // namespace haven::daemon
