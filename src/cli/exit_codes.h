#pragma once

// Exit statuses of the backup commands (haven run's are in vmm/stop_reason.h and agree on
// 0, 1 and 2).

namespace haven::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;   // the command could not do its work
inline constexpr int kExitUsage = 2;    // bad arguments
inline constexpr int kExitDamaged = 3;  // verify found damage

}  // namespace haven::cli
