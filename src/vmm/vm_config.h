#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "base/units.h"

namespace haven::vmm {

// Where the guest's serial console (ttyS0) goes.
struct ConsoleConfig {
  enum class Kind { stdio, file, socket, none };
  Kind kind = Kind::stdio;
  std::string path;  // for file (output only) and socket (a Unix socket Haven listens on)
};

enum class RebootAction { exit, restart };

// Everything needed to build one VM. The same fields come from `haven run` flags and from a
// JSON config file (see docs/VM-CONFIG.md).
struct VmConfig {
  static constexpr const char* kDefaultCmdline = "console=ttyS0 panic=-1";
  static constexpr uint64_t kDefaultMemory = 512 * MiB;
  static constexpr uint64_t kMinMemory = 16 * MiB;
  static constexpr uint64_t kMaxMemory = 1024 * GiB;

  std::string kernel;
  std::optional<std::string> initrd;
  std::string cmdline = kDefaultCmdline;
  uint64_t memory = kDefaultMemory;
  uint32_t cpus = 1;
  ConsoleConfig console;
  RebootAction on_reboot = RebootAction::exit;
};

// Each parser names the offending field (as "--memory" or "memory") in its error.
Result<uint64_t> parse_memory(std::string_view text);
Result<uint32_t> parse_cpus(int64_t value);
Result<ConsoleConfig> parse_console(std::string_view text);
Result<RebootAction> parse_reboot_action(std::string_view text);
std::string console_to_string(const ConsoleConfig& console);

// Checks the combination (a kernel given, sizes in range).
Result<void> validate(const VmConfig& config);

// JSON form: {"kernel": "...", "initrd": "...", "cmdline": "...", "memory": "512M" or MiB,
// "cpus": 2, "console": "stdio|file:PATH|socket:PATH|none", "on_reboot": "exit|restart"}.
// Unknown fields are errors, so a typo never goes unnoticed.
Result<VmConfig> vm_config_from_json(std::string_view text);
// Overlays the fields present in `text` on `base`.
Result<VmConfig> vm_config_from_json(std::string_view text, VmConfig base);
std::string vm_config_to_json(const VmConfig& config);

}  // namespace haven::vmm
