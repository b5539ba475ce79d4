#pragma once

#include <memory>

#include "base/error.h"
#include "block/hydrating_image.h"
#include "vmm/vm_config.h"

namespace haven::vmm {

// The local image of a disk being restored from a backup (DiskConfig.restore_*), filled from
// the snapshot as the guest runs: each chunk is read from the repository, authenticated,
// decrypted and decompressed when first needed, and (with `hydrate`) a background thread
// fetches the rest. nullptr when an earlier run completed it: it is a plain image now, and
// the repository is not even opened. An encrypted repository's keys come from the parent
// (store/key_handoff.h), else its passphrase from HAVEN_PASSPHRASE.
Result<std::unique_ptr<block::HydratingImage>> open_restoring_disk(const DiskConfig& disk);

}  // namespace haven::vmm
