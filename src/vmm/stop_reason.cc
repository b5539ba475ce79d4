#include "vmm/stop_reason.h"

namespace haven::vmm {

int exit_status(const StopReason& reason) {
  switch (reason.kind) {
    case StopKind::power_off:
      return kExitPowerOff;
    case StopKind::reset:
      return kExitReset;
    case StopKind::panic:
      return kExitPanic;
    case StopKind::crash:
      return kExitCrash;
    case StopKind::host_signal:
      return 128 + reason.signal;
    case StopKind::user_quit:
      return kExitUserQuit;
    case StopKind::no_boot:
      return kExitNoBoot;
    case StopKind::error:
      return kExitError;
  }
  return kExitError;
}

}  // namespace haven::vmm
