#pragma once

// Durable, all-or-nothing file replacement: the data goes to a temporary file beside the
// target, which is fsynced, renamed over the target, and the directory fsynced, so after a
// crash the target holds either the old or the new contents, never a mix.

#include <cstdint>
#include <span>
#include <string>

#include "base/error.h"

namespace haven {

// `exclusive`: fail (EEXIST) instead of replacing an existing target. `mode`: the new file's
// permissions (0600 for what only its owner may read, such as a guest's UEFI variables).
Result<void> write_file_atomic(const std::string& path, std::span<const uint8_t> data,
                               bool exclusive = false, unsigned mode = 0644);
// Makes a rename or a new file in `directory` durable.
Result<void> fsync_directory(const std::string& directory);
// The same for the directory holding `path`.
Result<void> fsync_parent_directory(const std::string& path);

}  // namespace haven
