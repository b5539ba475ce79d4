#include "vmm/vm_config.h"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "arch/x86/layout.h"

namespace haven::vmm {
namespace {

// arch's vCPU limit, copied: formatting takes its arguments by reference, and a reference to
// arch's constant would put arch's symbol into the CLI and havend in unoptimized builds, which
// the link.* tests forbid.
constexpr uint32_t kMaxVcpus = arch::x86::kMaxVcpus;

using nlohmann::json;

constexpr uint64_t kMemoryGranule = 2 * MiB;
constexpr size_t kMaxPciDevices = 31;

// A config that does not parse is invalid input, and its errors name the field at fault:
// "field 'memory': ..." for people, kind and field() for havend's answer.
template <class... Args>
std::unexpected<Error> bad_field(std::string_view name, fmt::format_string<Args...> format,
                                 Args&&... args) {
  std::string message =
      fmt::format("field '{}': {}", name, fmt::format(format, std::forward<Args>(args)...));
  return std::unexpected(
      Error::from_message(std::move(message)).with_kind(ErrorKind::invalid, std::string(name)));
}

template <class T>
Result<T> in_field(Result<T>&& result, std::string_view name) {
  if (result) return std::move(result);
  return std::unexpected(std::move(result)
                             .error()
                             .with_context(fmt::format("field '{}'", name))
                             .with_kind(ErrorKind::invalid, std::string(name)));
}

std::unexpected<Error> unknown_field(std::string_view name, std::string_view known) {
  return std::unexpected(
      Error::from_message(fmt::format("unknown field '{}' (known: {})", name, known))
          .with_kind(ErrorKind::invalid, std::string(name)));
}

Result<std::string> string_field(const json& value, std::string_view field) {
  if (!value.is_string()) return bad_field(field, "expected a string");
  return value.get<std::string>();
}

Result<bool> bool_field(const json& value, std::string_view field) {
  if (!value.is_boolean()) return bad_field(field, "expected true or false");
  return value.get<bool>();
}

Result<uint32_t> queues_field(const json& value, std::string_view field) {
  if (!value.is_number_integer() || value.get<int64_t>() < 1 ||
      (value.is_number_unsigned() && value.get<uint64_t>() > kMaxDiskQueues))
    return bad_field(field, "expected a number of queues from 1 to {}", kMaxDiskQueues);
  return static_cast<uint32_t>(value.get<int64_t>());
}

// What Linux accepts as an interface name (dev_valid_name): 1 to 15 bytes (IFNAMSIZ counts the
// terminating zero), not "." or "..", no '/', ':' or white space. Commas and '=' would be
// ambiguous in the --net flag, so they are refused too.
Result<void> check_tap_name(std::string_view name) {
  bool valid = !name.empty() && name.size() <= 15 && name != "." && name != "..";
  for (char c : name)
    if (c == '/' || c == ':' || c == ',' || c == '=' || c <= ' ' || c == 0x7f) valid = false;
  if (!valid)
    return make_error(
        "'{}' is not an interface name (1 to 15 characters, none of / : , = or spaces)", name);
  return {};
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<void> check_restore(const DiskConfig& disk) {
  if (disk.restore_repo.empty() != disk.restore_snapshot.empty())
    return make_error("restoring a disk takes both a repository and a snapshot");
  if (!disk.restore_repo.empty() && disk.readonly)
    return make_error("a disk being restored cannot be read-only");
  return {};
}

Result<std::vector<DiskConfig>> disks_from_json(const json& value) {
  if (!value.is_array()) return bad_field("disks", "expected a list");
  std::vector<DiskConfig> disks;
  for (size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    if (!item.is_object())
      return bad_field(fmt::format("disks[{}]", i), "expected an object with a \"path\"");
    DiskConfig disk;
    for (const auto& [key, field] : item.items()) {
      std::string name = fmt::format("disks[{}].{}", i, key);
      if (key == "path")
        disk.path = TRY(string_field(field, name));
      else if (key == "readonly")
        disk.readonly = TRY(bool_field(field, name));
      else if (key == "direct")
        disk.direct = TRY(bool_field(field, name));
      else if (key == "cbt")
        disk.cbt = TRY(bool_field(field, name));
      else if (key == "restore_repo")
        disk.restore_repo = TRY(string_field(field, name));
      else if (key == "restore_snapshot")
        disk.restore_snapshot = TRY(string_field(field, name));
      else if (key == "hydrate")
        disk.hydrate = TRY(bool_field(field, name));
      else if (key == "fill_paused")
        disk.fill_paused = TRY(bool_field(field, name));
      else if (key == "queues")
        disk.queues = TRY(queues_field(field, name));
      else
        return unknown_field(name,
                             "path, readonly, direct, cbt, restore_repo, restore_snapshot, "
                             "hydrate, fill_paused, queues");
    }
    if (disk.path.empty()) return bad_field(fmt::format("disks[{}].path", i), "missing");
    TRY(in_field(check_restore(disk), fmt::format("disks[{}]", i)));
    disks.push_back(std::move(disk));
  }
  return disks;
}

Result<std::vector<NetConfig>> nets_from_json(const json& value) {
  if (!value.is_array()) return bad_field("nets", "expected a list");
  std::vector<NetConfig> nets;
  for (size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    if (!item.is_object())
      return bad_field(fmt::format("nets[{}]", i), "expected an object with a \"tap\"");
    NetConfig net;
    for (const auto& [key, field] : item.items()) {
      std::string name = fmt::format("nets[{}].{}", i, key);
      if (key == "tap")
        net.tap = TRY(string_field(field, name));
      else if (key == "mac") {
        std::string text = TRY(string_field(field, name));
        net.mac = TRY(in_field(parse_mac(text), name));
      } else {
        return unknown_field(name, "tap, mac");
      }
    }
    TRY(in_field(check_tap_name(net.tap), fmt::format("nets[{}].tap", i)));
    nets.push_back(std::move(net));
  }
  return nets;
}

}  // namespace

Result<Firmware> parse_firmware(std::string_view text) {
  if (text == "bios") return Firmware::bios;
  if (text == "uefi") return Firmware::uefi;
  if (text == "none") return Firmware::none;
  return make_error("'{}' is not one of bios, uefi, none", text);
}

std::string firmware_name(Firmware firmware) {
  switch (firmware) {
    case Firmware::bios:
      return "bios";
    case Firmware::uefi:
      return "uefi";
    case Firmware::none:
      break;
  }
  return "none";
}

std::string boot_device_name(BootDevice device) {
  switch (device) {
    case BootDevice::cdrom:
      return "cdrom";
    case BootDevice::floppy:
      return "floppy";
    case BootDevice::disk:
      break;
  }
  return "disk";
}

Result<std::vector<BootDevice>> parse_boot_order(std::string_view text) {
  std::vector<BootDevice> order;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item =
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    BootDevice device;
    if (item == "disk")
      device = BootDevice::disk;
    else if (item == "cdrom")
      device = BootDevice::cdrom;
    else if (item == "floppy")
      device = BootDevice::floppy;
    else
      return make_error("'{}' is not one of disk, cdrom, floppy", item);
    if (std::find(order.begin(), order.end(), device) != order.end())
      return make_error("'{}' is named twice", item);
    order.push_back(device);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return order;
}

std::vector<BootDevice> effective_boot_order(const VmConfig& config) {
  auto present = [&](BootDevice device) {
    switch (device) {
      case BootDevice::disk:
        return !config.disks.empty();
      case BootDevice::cdrom:
        return config.cdrom.has_value();
      case BootDevice::floppy:
        return config.floppy.has_value();
    }
    return false;
  };
  std::vector<BootDevice> order;
  for (BootDevice device : config.boot_order)
    if (present(device)) order.push_back(device);
  for (BootDevice device : {BootDevice::disk, BootDevice::cdrom, BootDevice::floppy})
    if (present(device) && std::find(order.begin(), order.end(), device) == order.end())
      order.push_back(device);
  return order;
}

Result<uint64_t> parse_memory(std::string_view text) {
  uint64_t bytes = TRY(parse_size(text, MiB));
  if (bytes < VmConfig::kMinMemory || bytes > VmConfig::kMaxMemory)
    return make_error("'{}' is out of range ({} to {})", text, format_size(VmConfig::kMinMemory),
                      format_size(VmConfig::kMaxMemory));
  if (bytes % kMemoryGranule != 0) return make_error("'{}' is not a multiple of 2 MiB", text);
  return bytes;
}

Result<uint32_t> parse_cpus(int64_t value) {
  if (value < 1 || value > kMaxVcpus)
    return make_error("{} is out of range (1 to {})", value, kMaxVcpus);
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

namespace {

// Splits "a=1,b=2" into pairs; a first item without '=' is returned under `bare_key`.
Result<std::vector<std::pair<std::string, std::string>>> key_values(std::string_view text,
                                                                    std::string_view bare_key) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    size_t equals = item.find('=');
    if (equals == std::string_view::npos) {
      if (!pairs.empty() || item.empty()) return make_error("'{}' is not KEY=VALUE", item);
      pairs.emplace_back(bare_key, item);
    } else {
      pairs.emplace_back(item.substr(0, equals), item.substr(equals + 1));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return pairs;
}

Result<uint32_t> parse_queues(std::string_view value) {
  uint32_t queues = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), queues);
  if (error != std::errc() || end != value.data() + value.size() || queues < 1 ||
      queues > kMaxDiskQueues)
    return make_error("queues: '{}' is not a number from 1 to {}", value, kMaxDiskQueues);
  return queues;
}

Result<bool> parse_switch(std::string_view key, std::string_view value) {
  if (value == "on" || value == "true" || value == "yes") return true;
  if (value == "off" || value == "false" || value == "no") return false;
  return make_error("{}: '{}' is not on or off", key, value);
}

}  // namespace

Result<DiskConfig> parse_disk(std::string_view text) {
  DiskConfig disk;
  for (const auto& [key, value] : TRY(key_values(text, "path"))) {
    if (key == "path")
      disk.path = value;
    else if (key == "readonly")
      disk.readonly = TRY(parse_switch(key, value));
    else if (key == "direct")
      disk.direct = TRY(parse_switch(key, value));
    else if (key == "cbt")
      disk.cbt = TRY(parse_switch(key, value));
    else if (key == "restore-repo")
      disk.restore_repo = value;
    else if (key == "restore-snapshot")
      disk.restore_snapshot = value;
    else if (key == "hydrate")
      disk.hydrate = TRY(parse_switch(key, value));
    else if (key == "fill-paused")
      disk.fill_paused = TRY(parse_switch(key, value));
    else if (key == "queues")
      disk.queues = TRY(parse_queues(value));
    else
      return make_error(
          "unknown disk option '{}' (known: path, readonly, direct, cbt, restore-repo, "
          "restore-snapshot, hydrate, fill-paused, queues)",
          key);
  }
  if (disk.path.empty()) return make_error("no path= given");
  TRY(check_restore(disk));
  return disk;
}

Result<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
  std::array<uint8_t, 6> mac{};
  // Exactly six pairs of hex digits separated by colons.
  bool valid = text.size() == 17;
  for (size_t i = 0; valid && i < 6; ++i) {
    int high = hex_digit(text[3 * i]);
    int low = hex_digit(text[3 * i + 1]);
    if (high < 0 || low < 0 || (i < 5 && text[3 * i + 2] != ':'))
      valid = false;
    else
      mac[i] = static_cast<uint8_t>(high << 4 | low);
  }
  if (!valid) return make_error("'{}' is not a MAC address like 52:54:00:12:34:56", text);
  if (mac[0] & 1) return make_error("'{}' is a multicast address", text);
  return mac;
}

std::string mac_to_string(const std::array<uint8_t, 6>& mac) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3],
                     mac[4], mac[5]);
}

Result<NetConfig> parse_net(std::string_view text) {
  NetConfig net;
  for (const auto& [key, value] : TRY(key_values(text, "tap"))) {
    if (key == "tap")
      net.tap = value;
    else if (key == "mac")
      net.mac = TRY(with_context(parse_mac(value), "mac"));
    else
      return make_error("unknown net option '{}' (known: tap, mac)", key);
  }
  TRY(with_context(check_tap_name(net.tap), "tap"));
  return net;
}

namespace {

// Firmware and direct boot exclude each other's settings; media need a firmware that boots
// them.
Result<void> validate_boot(const VmConfig& config) {
  if (config.firmware == Firmware::none) {
    if (config.kernel.empty())
      return field_error(ErrorKind::invalid, "kernel",
                         "no kernel given (or boot through firmware: bios or uefi)");
    if (config.cdrom)
      return field_error(ErrorKind::invalid, "cdrom",
                         "needs firmware (bios or uefi) to boot from it");
    if (config.floppy)
      return field_error(ErrorKind::invalid, "floppy", "needs the bios firmware to boot from it");
    if (config.nvram) return field_error(ErrorKind::invalid, "nvram", "only a UEFI guest has one");
    if (!config.boot_order.empty())
      return field_error(ErrorKind::invalid, "boot", "only firmware follows a boot order");
    return {};
  }
  std::string name = firmware_name(config.firmware);
  if (!config.kernel.empty())
    return field_error(
        ErrorKind::invalid, "kernel",
        "a {} guest boots its own loader; give either a kernel (direct boot) or firmware", name);
  if (config.initrd)
    return field_error(ErrorKind::invalid, "initrd", "a {} guest boots its own loader", name);
  if (config.floppy && config.firmware != Firmware::bios)
    return field_error(ErrorKind::invalid, "floppy",
                       "only the bios firmware boots floppies (OVMF has no floppy driver)");
  if (config.nvram && config.firmware != Firmware::uefi)
    return field_error(ErrorKind::invalid, "nvram", "only a UEFI guest has one");
  if (config.disks.empty() && !config.cdrom && !config.floppy)
    return kind_error(ErrorKind::invalid,
                      "{} firmware needs something to boot: a disk, a cdrom or a floppy", name);
  for (BootDevice device : config.boot_order) {
    bool present = device == BootDevice::disk    ? !config.disks.empty()
                   : device == BootDevice::cdrom ? config.cdrom.has_value()
                                                 : config.floppy.has_value();
    if (!present)
      return field_error(ErrorKind::invalid, "boot",
                         "'{}' is in the boot order but the guest has no {}",
                         boot_device_name(device), boot_device_name(device));
  }
  for (const auto* path : {&config.cdrom, &config.floppy, &config.nvram})
    if (*path && (*path)->empty())
      return kind_error(ErrorKind::invalid, "firmware media: an empty path");
  return {};
}

}  // namespace

Result<void> validate(const VmConfig& config) {
  TRY(validate_boot(config));
  if (config.cpus < 1 || config.cpus > kMaxVcpus)
    return field_error(ErrorKind::invalid, "cpus", "{} is out of range (1 to {})", config.cpus,
                       kMaxVcpus);
  if (config.memory < VmConfig::kMinMemory || config.memory > VmConfig::kMaxMemory ||
      config.memory % kMemoryGranule != 0)
    return field_error(ErrorKind::invalid, "memory",
                       "{} bytes is not a multiple of 2 MiB between {} and {}", config.memory,
                       format_size(VmConfig::kMinMemory), format_size(VmConfig::kMaxMemory));
  // Each device takes a PCI slot: 31 after the host bridge, 30 when firmware's chipset takes
  // another.
  size_t slots = config.firmware == Firmware::none ? kMaxPciDevices : kMaxPciDevices - 1;
  if (config.disks.size() + config.nets.size() + (config.rng ? 1 : 0) +
          (config.virtio_console ? 1 : 0) + (config.cdrom ? 1 : 0) >
      slots)
    return field_error(ErrorKind::invalid, "devices",
                       "at most {} disks, nets, rng and cdrom together", slots);
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& disk = config.disks[i];
    if (disk.path.empty()) return field_error(ErrorKind::invalid, "disks", "a disk without a path");
    if (disk.queues > kMaxDiskQueues)
      return field_error(ErrorKind::invalid, "disks", "{} queues (at most {})", disk.queues,
                         kMaxDiskQueues);
    // An image one device writes is that device's alone (its VMM locks it): given twice, it
    // is refused here. Read-only ones may be shared.
    for (size_t j = 0; j < i; ++j)
      if (config.disks[j].path == disk.path && !(disk.readonly && config.disks[j].readonly))
        return field_error(ErrorKind::invalid, "disks", "{} is given twice (disks {} and {})",
                           disk.path, j, i);
    if (config.cdrom && *config.cdrom == disk.path && !disk.readonly)
      return field_error(ErrorKind::invalid, "disks", "{} is both disk {} and the cdrom", disk.path,
                         i);
  }
  if (config.virtio_console && config.virtio_console->kind == ConsoleConfig::Kind::stdio &&
      config.console.kind == ConsoleConfig::Kind::stdio)
    return field_error(ErrorKind::invalid, "virtio_console",
                       "stdio is taken by the serial console (give it a file: or "
                       "socket:, or set console to another)");
  return {};
}

uint32_t disk_queues(const DiskConfig& disk, uint32_t cpus) {
  return disk.queues ? disk.queues : std::clamp<uint32_t>(cpus, 1, kMaxDiskQueues);
}

Result<VmConfig> vm_config_from_json(std::string_view text) {
  return vm_config_from_json(text, VmConfig{});
}

Result<VmConfig> vm_config_from_json(std::string_view text, VmConfig config) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& error) {  // parse_error, or out_of_range for a huge number
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
        config.memory =
            TRY(in_field(parse_memory(std::to_string(value.get<uint64_t>())), "memory"));
      } else if (value.is_string()) {
        config.memory = TRY(in_field(parse_memory(value.get<std::string>()), "memory"));
      } else {
        return bad_field("memory", "expected a size such as \"512M\" or a number of MiB");
      }
    } else if (key == "cpus") {
      if (!value.is_number_integer()) return bad_field("cpus", "expected an integer");
      // Above INT64_MAX, get<int64_t>() would wrap and the error would quote a negative number.
      if (value.is_number_unsigned() && value.get<uint64_t>() > kMaxVcpus)
        return bad_field("cpus", "{} is out of range (1 to {})", value.get<uint64_t>(), kMaxVcpus);
      config.cpus = TRY(in_field(parse_cpus(value.get<int64_t>()), "cpus"));
    } else if (key == "console") {
      std::string text_value = TRY(string_field(value, key));
      config.console = TRY(in_field(parse_console(text_value), "console"));
    } else if (key == "console_log") {
      std::string text_value = TRY(string_field(value, key));
      if (text_value.empty()) return bad_field("console_log", "expected a file path");
      config.console_log = text_value;
    } else if (key == "on_reboot") {
      std::string text_value = TRY(string_field(value, key));
      config.on_reboot = TRY(in_field(parse_reboot_action(text_value), "on_reboot"));
    } else if (key == "disks") {
      config.disks = TRY(disks_from_json(value));
    } else if (key == "nets") {
      config.nets = TRY(nets_from_json(value));
    } else if (key == "virtio_console") {
      if (value.is_null()) {
        config.virtio_console.reset();
      } else {
        std::string text_value = TRY(string_field(value, key));
        config.virtio_console = TRY(in_field(parse_console(text_value), "virtio_console"));
      }
    } else if (key == "rng") {
      if (!value.is_boolean()) return bad_field("rng", "expected true or false");
      config.rng = value.get<bool>();
    } else if (key == "firmware") {
      std::string text_value = TRY(string_field(value, key));
      config.firmware = TRY(in_field(parse_firmware(text_value), "firmware"));
    } else if (key == "cdrom" || key == "floppy" || key == "nvram") {
      auto& field = key == "cdrom" ? config.cdrom : key == "floppy" ? config.floppy : config.nvram;
      if (value.is_null()) {
        field.reset();
      } else {
        field = TRY(string_field(value, key));
        if (field->empty()) return bad_field(key, "expected a file path");
      }
    } else if (key == "boot") {
      if (value.is_string()) {
        config.boot_order = TRY(in_field(parse_boot_order(value.get<std::string>()), "boot"));
      } else if (value.is_array()) {
        std::string joined;
        for (const json& item : value) {
          if (!item.is_string()) return bad_field("boot", "expected names of devices");
          joined += (joined.empty() ? "" : ",") + item.get<std::string>();
        }
        config.boot_order = value.empty() ? std::vector<BootDevice>{}
                                          : TRY(in_field(parse_boot_order(joined), "boot"));
      } else {
        return bad_field("boot", "expected \"disk,cdrom\" or [\"disk\", \"cdrom\"]");
      }
    } else if (key == "boot_timeout") {
      if (!value.is_number_unsigned() || value.get<uint64_t>() > 24 * 3600)
        return bad_field("boot_timeout", "expected seconds from 0 (none) to 86400");
      config.boot_timeout = value.get<uint32_t>();
    } else {
      return unknown_field(key,
                           "kernel, initrd, cmdline, memory, cpus, console, console_log, "
                           "on_reboot, disks, nets, rng, virtio_console, firmware, cdrom, floppy, "
                           "boot, nvram, boot_timeout");
    }
  }
  return config;
}

std::string vm_config_to_json(const VmConfig& config) {
  json doc;
  if (config.firmware == Firmware::none) {
    doc["kernel"] = config.kernel;
    if (config.initrd) doc["initrd"] = *config.initrd;
    doc["cmdline"] = config.cmdline;
  } else {
    doc["firmware"] = firmware_name(config.firmware);
    if (config.cdrom) doc["cdrom"] = *config.cdrom;
    if (config.floppy) doc["floppy"] = *config.floppy;
    if (!config.boot_order.empty()) {
      doc["boot"] = json::array();
      for (BootDevice device : config.boot_order) doc["boot"].push_back(boot_device_name(device));
    }
    if (config.nvram) doc["nvram"] = *config.nvram;
    doc["boot_timeout"] = config.boot_timeout;
  }
  doc["memory"] = std::to_string(config.memory / MiB) + "M";
  doc["cpus"] = config.cpus;
  doc["console"] = console_to_string(config.console);
  if (config.console_log) doc["console_log"] = *config.console_log;
  doc["on_reboot"] = config.on_reboot == RebootAction::exit ? "exit" : "restart";
  if (!config.disks.empty()) {
    doc["disks"] = json::array();
    for (const DiskConfig& disk : config.disks) {
      json item = {{"path", disk.path},
                   {"readonly", disk.readonly},
                   {"direct", disk.direct},
                   {"cbt", disk.cbt}};
      if (disk.queues) item["queues"] = disk.queues;
      if (!disk.restore_repo.empty()) {
        item["restore_repo"] = disk.restore_repo;
        item["restore_snapshot"] = disk.restore_snapshot;
        item["hydrate"] = disk.hydrate;
        item["fill_paused"] = disk.fill_paused;
      }
      doc["disks"].push_back(std::move(item));
    }
  }
  if (!config.nets.empty()) {
    doc["nets"] = json::array();
    for (const NetConfig& net : config.nets) {
      json item = {{"tap", net.tap}};
      if (net.mac) item["mac"] = mac_to_string(*net.mac);
      doc["nets"].push_back(item);
    }
  }
  if (config.rng) doc["rng"] = true;
  if (config.virtio_console) doc["virtio_console"] = console_to_string(*config.virtio_console);
  return doc.dump(2);
}

}  // namespace haven::vmm
