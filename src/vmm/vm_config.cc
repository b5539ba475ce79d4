#include "vmm/vm_config.h"

#include <nlohmann/json.hpp>

#include "arch/x86/layout.h"

namespace haven::vmm {
namespace {

using nlohmann::json;

constexpr uint64_t kMemoryGranule = 2 * MiB;

Result<std::string> string_field(const json& value, std::string_view field) {
  if (!value.is_string()) return make_error("field '{}': expected a string", field);
  return value.get<std::string>();
}

}  // namespace

Result<uint64_t> parse_memory(std::string_view text) {
  uint64_t bytes = TRY(parse_size(text, MiB));
  if (bytes < VmConfig::kMinMemory || bytes > VmConfig::kMaxMemory)
    return make_error("'{}' is out of range ({} to {})", text, format_size(VmConfig::kMinMemory),
                      format_size(VmConfig::kMaxMemory));
  if (bytes % kMemoryGranule != 0) return make_error("'{}' is not a multiple of 2 MiB", text);
  return bytes;
}

Result<uint32_t> parse_cpus(int64_t value) {
  if (value < 1 || value > arch::x86::kMaxVcpus)
    return make_error("{} is out of range (1 to {})", value, arch::x86::kMaxVcpus);
  return static_cast<uint32_t>(value);
}

Result<ConsoleConfig> parse_console(std::string_view text) {
  auto path_after = [&](std::string_view prefix) -> std::optional<std::string> {
    if (text.substr(0, prefix.size()) != prefix || text.size() == prefix.size()) return {};
    return std::string(text.substr(prefix.size()));
  };
  if (text == "stdio") return ConsoleConfig{ConsoleConfig::Kind::stdio, {}};
  if (text == "none") return ConsoleConfig{ConsoleConfig::Kind::none, {}};
  if (auto path = path_after("file:")) return ConsoleConfig{ConsoleConfig::Kind::file, *path};
  if (auto path = path_after("socket:")) return ConsoleConfig{ConsoleConfig::Kind::socket, *path};
  return make_error("'{}' is not one of stdio, file:PATH, socket:PATH, none", text);
}

Result<RebootAction> parse_reboot_action(std::string_view text) {
  if (text == "exit") return RebootAction::exit;
  if (text == "restart") return RebootAction::restart;
  return make_error("'{}' is not one of exit, restart", text);
}

std::string console_to_string(const ConsoleConfig& console) {
  switch (console.kind) {
    case ConsoleConfig::Kind::stdio:
      return "stdio";
    case ConsoleConfig::Kind::none:
      return "none";
    case ConsoleConfig::Kind::file:
      return "file:" + console.path;
    case ConsoleConfig::Kind::socket:
      return "socket:" + console.path;
  }
  return "none";
}

Result<void> validate(const VmConfig& config) {
  if (config.kernel.empty()) return make_error("kernel: no kernel given");
  if (config.cpus < 1 || config.cpus > arch::x86::kMaxVcpus)
    return make_error("cpus: {} is out of range (1 to {})", config.cpus, arch::x86::kMaxVcpus);
  if (config.memory < VmConfig::kMinMemory || config.memory > VmConfig::kMaxMemory ||
      config.memory % kMemoryGranule != 0)
    return make_error("memory: {} bytes is not a multiple of 2 MiB between {} and {}",
                      config.memory, format_size(VmConfig::kMinMemory),
                      format_size(VmConfig::kMaxMemory));
  return {};
}

Result<VmConfig> vm_config_from_json(std::string_view text) {
  return vm_config_from_json(text, VmConfig{});
}

Result<VmConfig> vm_config_from_json(std::string_view text, VmConfig config) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& error) {
    return make_error("not valid JSON: {}", error.what());
  }
  if (!doc.is_object()) return make_error("expected a JSON object of VM settings");
  for (const auto& [key, value] : doc.items()) {
    if (key == "kernel") {
      config.kernel = TRY(string_field(value, key));
    } else if (key == "initrd") {
      if (value.is_null())
        config.initrd.reset();
      else
        config.initrd = TRY(string_field(value, key));
    } else if (key == "cmdline") {
      config.cmdline = TRY(string_field(value, key));
    } else if (key == "memory") {
      if (value.is_number_unsigned()) {
        config.memory = TRY(
            with_context(parse_memory(std::to_string(value.get<uint64_t>())), "field 'memory'"));
      } else if (value.is_string()) {
        config.memory = TRY(with_context(parse_memory(value.get<std::string>()), "field 'memory'"));
      } else {
        return make_error("field 'memory': expected a size such as \"512M\" or a number of MiB");
      }
    } else if (key == "cpus") {
      if (!value.is_number_integer()) return make_error("field 'cpus': expected an integer");
      // Above INT64_MAX, get<int64_t>() would wrap and the error would quote a negative number.
      if (value.is_number_unsigned() && value.get<uint64_t>() > arch::x86::kMaxVcpus)
        return make_error("field 'cpus': {} is out of range (1 to {})", value.get<uint64_t>(),
                          arch::x86::kMaxVcpus);
      config.cpus = TRY(with_context(parse_cpus(value.get<int64_t>()), "field 'cpus'"));
    } else if (key == "console") {
      std::string text_value = TRY(string_field(value, key));
      config.console = TRY(with_context(parse_console(text_value), "field 'console'"));
    } else if (key == "on_reboot") {
      std::string text_value = TRY(string_field(value, key));
      config.on_reboot = TRY(with_context(parse_reboot_action(text_value), "field 'on_reboot'"));
    } else {
      return make_error(
          "unknown field '{}' (known: kernel, initrd, cmdline, memory, cpus, "
          "console, on_reboot)",
          key);
    }
  }
  return config;
}

std::string vm_config_to_json(const VmConfig& config) {
  json doc;
  doc["kernel"] = config.kernel;
  if (config.initrd) doc["initrd"] = *config.initrd;
  doc["cmdline"] = config.cmdline;
  doc["memory"] = std::to_string(config.memory / MiB) + "M";
  doc["cpus"] = config.cpus;
  doc["console"] = console_to_string(config.console);
  doc["on_reboot"] = config.on_reboot == RebootAction::exit ? "exit" : "restart";
  return doc.dump(2);
}

}  // namespace haven::vmm
