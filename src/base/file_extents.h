#pragma once

// Sparse files: which ranges hold data, whether bytes are all zero, and copying a file with
// its holes kept (a reflink where the file system shares blocks).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"

namespace haven {

struct Extent {
  uint64_t start, end;
};

// The ranges of the first `size` bytes of `fd` that hold data; everything else reads as
// zeros. Not a regular file (`is_file` false), or no SEEK_DATA: one extent covering it all.
Result<std::vector<Extent>> data_extents(int fd, uint64_t size, bool is_file,
                                         const std::string& path);

bool all_zero(std::span<const uint8_t> data);

// Whether a copy's source may be a symbolic link: `refuse` for a file named by somebody else
// (a snapshot directory's contents), so a link there cannot make a privileged copier read a
// host file it points at.
enum class SourceLinks { follow, refuse };

// Copies regular file `from` to a new file `to` (which must not exist), holes kept, data
// fsynced: FICLONE when the file system can share the blocks, else copy_file_range per extent.
// Returns the bytes of data copied (0 for a reflink).
Result<uint64_t> copy_sparse_file(const std::string& from, const std::string& to,
                                  SourceLinks links = SourceLinks::follow);

}  // namespace haven
