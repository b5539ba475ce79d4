#pragma once

// Restoring a snapshot to a file or block device. Every chunk is authenticated and re-hashed
// before it is written; holes are left as holes in a file (it is sparse) and written as zeros
// on a device. A file target is written under TARGET.partial and renamed when complete, so
// an interrupted restore never leaves a half-restored disk under the real name.

#include <functional>
#include <string>

#include "base/error.h"
#include "store/backup.h"
#include "store/manifest.h"
#include "store/repository.h"

namespace haven::store {

struct RestoreOptions {
  std::string target;
  unsigned threads = 0;    // 0: one more than cores
  bool overwrite = false;  // replace an existing file (block devices are always written)
  std::function<void(const Progress&)> progress;
};

Result<void> restore_snapshot(const Repository& repository, const Snapshot& snapshot,
                              const RestoreOptions& options);

}  // namespace haven::store
