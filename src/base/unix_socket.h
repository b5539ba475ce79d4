#pragma once

#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace haven {

// A non-blocking stream socket listening at `path`. A stale socket file from an earlier run
// is replaced; a socket another process listens on, or any other file, is an error.
Result<UniqueFd> listen_unix(const std::string& path, int backlog);
// A non-blocking stream connection to `path`.
Result<UniqueFd> connect_unix(const std::string& path);

}  // namespace haven
