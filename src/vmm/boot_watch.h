#pragma once

// Watches what a firmware guest prints on its serial console until its firmware has handed
// the machine to a boot loader, so that "nothing to boot" ends the guest with a clear message
// and a distinct exit status (7) instead of a firmware prompt no one will answer:
//   - SeaBIOS prints "Booting from ..." when it jumps to a boot sector, "Boot failed: ..." when
//     that sector was no good, and "No bootable device." when it ran out of devices;
//   - OVMF prints "BdsDxe: starting Boot0001 ..." and "BdsDxe: failed to start ...", then
//     "BdsDxe: No bootable option or device was found." or, with its shell present, starts
//     the "EFI Internal Shell" -- which for Haven's purposes means the same.
// A final failure gives up at once, unless a boot loader was started since the last failure
// (then the text is the boot loader's or its OS's). When the boot timeout passes, the guest
// goes on only if a boot loader was started after the last failure; then the watch stops.
//
// Threading: observe() runs on the vCPU thread that wrote to the UART, deadline_passed() on the
// main loop; one lock serializes them; give_up runs at most once, without the lock.

#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "vmm/vm_config.h"

namespace haven::vmm {

class BootWatch {
 public:
  // `give_up` receives one line saying what happened.
  BootWatch(Firmware firmware, std::function<void(const std::string& why)> give_up);

  void observe(std::span<const uint8_t> bytes);
  void deadline_passed(std::chrono::seconds timeout);
  // A boot loader was started (and has not failed since).
  bool handed_over() const;
  // The watch has stopped looking (gave up, or the boot loader kept running).
  bool finished() const;
  // Stops looking at once: a restored snapshot continues a guest that booted long ago.
  void stand_down();

  // A line a firmware prints, and what it says about the boot.
  struct Marker {
    std::string_view text;
    enum class Means { started, failed, nothing_bootable } means;
  };

 private:
  enum class State { searching, handed_over, finished };
  void finish_with(const std::string& why) HAVEN_REQUIRES(m_mutex);

  std::span<const Marker> m_markers;
  std::function<void(const std::string&)> m_give_up;
  mutable Mutex m_mutex;
  State m_state HAVEN_GUARDED_BY(m_mutex) = State::searching;
  std::string m_tail
      HAVEN_GUARDED_BY(m_mutex);  // the end of the previous output, for markers split across writes
};

}  // namespace haven::vmm
