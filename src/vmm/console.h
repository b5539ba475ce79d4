#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/error.h"
#include "base/event_loop.h"
#include "vmm/vm_config.h"

namespace haven::vmm {

// The host end of the guest's serial console.
//
// Threading: write() comes from vCPU threads (serialized by the UART); everything else,
// including input handlers, runs on the VMM's main thread.
class Console {
 public:
  struct Input {
    std::function<void(std::span<const uint8_t>)> deliver;  // bytes for the guest
    std::function<void()> quit;                             // the user's escape sequence
  };

  static Result<std::unique_ptr<Console>> open(const ConsoleConfig& config);
  // The same, with every byte of output also appended to `log_path` (truncated first), which
  // becomes LOG.1 each time it reaches `log_limit` bytes (console_log.h).
  static Result<std::unique_ptr<Console>> open(const ConsoleConfig& config,
                                               const std::optional<std::string>& log_path);
  static Result<std::unique_ptr<Console>> open(const ConsoleConfig& config,
                                               const std::optional<std::string>& log_path,
                                               uint64_t log_limit);
  virtual ~Console() = default;

  // Guest output. Never blocks on a slow socket reader (output is dropped instead).
  virtual void write(std::span<const uint8_t> bytes) = 0;
  // Registers whatever input the console has with `loop`.
  virtual Result<void> attach_input(EventLoop& loop, Input input) = 0;
};

// Interactive escape: Ctrl-A then x quits, Ctrl-A twice sends one Ctrl-A (as QEMU does).
class EscapeFilter {
 public:
  static constexpr uint8_t kEscape = 0x01;  // Ctrl-A
  // Returns the bytes to forward; sets `quit` when the quit sequence was typed.
  std::vector<uint8_t> filter(std::span<const uint8_t> bytes, bool& quit);

 private:
  bool m_pending_escape = false;
};

}  // namespace haven::vmm
