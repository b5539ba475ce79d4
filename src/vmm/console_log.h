#pragma once

// A guest's console log (haven-vmm --config's console_log, which havend reads back): every byte
// of serial output, in at most two files. When the log reaches kConsoleLogLimit it becomes
// LOG.1 (replacing the one before) and a new LOG begins, so a guest that prints for ever
// holds at most twice the limit of the host's disk. A VMM starting afresh truncates LOG and
// removes LOG.1: the log is of the current or last run.

#include <cstdint>
#include <string>

#include "base/error.h"

namespace haven::vmm {

inline constexpr uint64_t kConsoleLogLimit = 16ull << 20;

// LOG.1: the log's earlier part.
std::string previous_console_log(const std::string& log_path);

// The last `max_bytes` of the log's output (of LOG.1 then LOG), the oldest first; empty when
// there is none.
Result<std::string> read_console_log_tail(const std::string& log_path, uint64_t max_bytes);

}  // namespace haven::vmm
