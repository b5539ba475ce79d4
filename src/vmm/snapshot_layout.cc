#include "vmm/snapshot_layout.h"

#include <cerrno>

#include <sys/stat.h>
#include <unistd.h>

#include "base/sys.h"
#include "base/units.h"

namespace haven::vmm {
namespace {

using json = nlohmann::json;

constexpr const char* kFormat = "haven-vm-snapshot";
constexpr size_t kMaxSnapshotFile = 64 * MiB;

}  // namespace

std::string snapshot_disk_name(size_t index) {
  return fmt::format("disk-{}.img", index);
}

Result<json> read_snapshot_document(const std::string& dir) {
  std::string path = dir + "/" + kSnapshotFileName;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT)
    return make_error("{}: no {} (not a snapshot, or an unfinished one)", dir, kSnapshotFileName);
  if (S_ISLNK(st.st_mode))  // a snapshot directory is somebody else's: its links are not followed
    return make_error("{} is a symbolic link, not a snapshot's file", path);
  auto bytes = TRY(sys::read_file(path, kMaxSnapshotFile));
  try {
    return json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& error) {  // parse_error, or out_of_range for a huge number
    return make_error("{}: not valid JSON: {}", path, error.what());
  }
}

Result<SnapshotSummary> parse_snapshot_summary(const json& doc) {
  if (!doc.is_object() || !doc.contains("format")) return make_error("no 'format'");
  if (!doc["format"].is_string()) return make_error("'format' is not a string");
  if (doc["format"].get<std::string>() != kFormat)
    return make_error("not a Haven VM snapshot (format '{}')", doc["format"].get<std::string>());
  if (!doc.contains("version")) return make_error("no 'version'");
  if (!doc["version"].is_number_unsigned()) return make_error("'version' is not a number");
  if (doc["version"].get<uint64_t>() != kSnapshotVersion)
    return make_error("snapshot version {}; this Haven reads version {}",
                      doc["version"].get<uint64_t>(), kSnapshotVersion);
  SnapshotSummary summary;
  if (doc.contains("id")) {
    const json& id = doc["id"];
    if (!id.is_string() || id.get<std::string>().size() != 32 ||
        id.get<std::string>().find_first_not_of("0123456789abcdef") != std::string::npos)
      return make_error("'id' is not 32 hex digits");
    summary.id = id.get<std::string>();
  }
  if (!doc.contains("config")) return make_error("no 'config'");
  summary.config = TRY(with_context(vm_config_from_json(doc["config"].dump()), "config"));
  if (!doc.contains("disk_copies") || !doc["disk_copies"].is_array() ||
      doc["disk_copies"].size() != summary.config.disks.size())
    return make_error("'disk_copies' does not list every disk");
  for (const json& copy : doc["disk_copies"]) {
    if (copy.is_null()) {
      summary.disk_copies.emplace_back();
      continue;
    }
    if (!copy.is_string()) return make_error("'disk_copies' holds a non-string");
    std::string name = copy.get<std::string>();
    if (name.empty() || name.find('/') != std::string::npos || name.starts_with("."))
      return make_error("disk copy '{}' is not a plain file name", name);
    summary.disk_copies.push_back(name);
  }
  // The VMM's state is decoded only by haven-vmm, but a file without it in shape is refused
  // here, before havend builds a guest on it.
  if (!doc.contains("vm") || !doc["vm"].is_object()) return make_error("no 'vm' state");
  if (!doc.contains("vcpus") || !doc["vcpus"].is_array())
    return make_error("'vcpus' is not a list");
  if (doc["vcpus"].size() != summary.config.cpus)
    return make_error("{} vCPU states for a VM of {} vCPUs", doc["vcpus"].size(),
                      summary.config.cpus);
  if (!doc.contains("devices") || !doc["devices"].is_object())
    return make_error("'devices' is not an object");
  if (!doc.contains("memory") || !doc["memory"].is_array())
    return make_error("'memory' is not a list of regions");
  if (doc.contains("nvram_copy")) {
    const json& copy = doc["nvram_copy"];
    if (!copy.is_string() || copy.get<std::string>() != kSnapshotNvramName)
      return make_error("'nvram_copy' is not \"{}\"", kSnapshotNvramName);
    if (summary.config.firmware != Firmware::uefi)
      return make_error("'nvram_copy' in a snapshot of a guest without UEFI");
    summary.nvram_copy = copy.get<std::string>();
  }
  return summary;
}

json snapshot_summary_document(const SnapshotSummary& summary) {
  json disks = json::array();
  for (const auto& copy : summary.disk_copies) disks.push_back(copy ? json(*copy) : json());
  json doc = {{"format", kFormat},
              {"version", kSnapshotVersion},
              {"config", json::parse(vm_config_to_json(summary.config))},
              {"disk_copies", disks}};
  if (summary.nvram_copy) doc["nvram_copy"] = *summary.nvram_copy;
  if (!summary.id.empty()) doc["id"] = summary.id;
  return doc;
}

Result<SnapshotSummary> read_snapshot_summary(const std::string& dir) {
  json doc = TRY(read_snapshot_document(dir));
  return with_context(parse_snapshot_summary(doc), "{}/{}", dir, kSnapshotFileName);
}

}  // namespace haven::vmm
