#include "daemon/path_policy.h"

#include <dirent.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "base/sys.h"

namespace haven::daemon {
namespace {

// realpath(3): every link followed; nullopt when `path` does not exist (ENOENT, ENOTDIR).
Result<std::optional<std::string>> resolve(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved)) return std::string(resolved);
  if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::string>();
  return errno_error("{}", path);
}

// A path split where it stops existing: its deepest existing ancestor with every link
// followed, and the rest (which does not exist, so holds no link).
struct Resolution {
  std::string existing;
  std::string tail;
  bool dangling = false;  // the first missing part is a link that leads nowhere
  std::string joined() const {
    if (tail.empty()) return existing;
    return existing == "/" ? "/" + tail : existing + "/" + tail;
  }
};

Result<Resolution> resolve_existing_part(const std::string& path) {
  Resolution resolution;
  std::string head = path;
  while (true) {
    if (auto resolved = TRY(resolve(head))) {
      resolution.existing = *resolved;
      return resolution;
    }
    struct stat st {};
    if (::lstat(head.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) resolution.dangling = true;
    size_t slash = head.rfind('/');
    resolution.tail =
        head.substr(slash + 1) + (resolution.tail.empty() ? "" : "/" + resolution.tail);
    if (slash == 0) {  // nothing of it exists, not even its first directory
      resolution.existing = "/";
      return resolution;
    }
    head.resize(slash);
  }
}

// Whether a snapshot may be written into DIRECTORY: empty, or an earlier snapshot's (which
// the new one replaces), or one a failed snapshot left with only its lock.
bool takes_a_snapshot(const std::string& directory) {
  auto names = sys::list_directory(directory);
  if (!names) return false;
  if (names->empty()) return true;
  if (std::find(names->begin(), names->end(), "snapshot.json") != names->end()) return true;
  return names->size() == 1 && names->front() == "lock";
}

}  // namespace

Result<PathPolicy> PathPolicy::make(const std::vector<std::string>& roots) {
  std::vector<std::string> resolved;
  for (const std::string& root : roots) {
    auto found = TRY(with_context(resolve(root), "--allow-path {}", root));
    if (!found) return make_error("--allow-path {}: no such file or directory", root);
    resolved.push_back(*found);
  }
  return PathPolicy(std::move(resolved));
}

Result<PathPolicy> PathPolicy::for_state(std::vector<std::string> roots, const std::string& state) {
  for (const char* folder : {"/disks", "/images"}) {
    TRY(sys::ensure_directory(state + folder, 0700));
    roots.push_back(state + folder);
  }
  return make(roots);
}

bool PathPolicy::inside(const std::string& resolved) const {
  for (const std::string& root : m_roots)
    if (root == "/" || resolved == root || resolved.starts_with(root + "/")) return true;
  return false;
}

Result<void> PathPolicy::check(std::string_view field, const std::string& path, Use use) const {
  if (path.empty() || path.front() != '/')
    return field_error(ErrorKind::invalid, std::string(field), "'{}' is not an absolute path",
                       path);
  for (size_t start = 1; start <= path.size();) {
    size_t end = std::min(path.find('/', start), path.size());
    std::string_view part(path.data() + start, end - start);
    if (part == "." || part == "..")
      return field_error(ErrorKind::invalid, std::string(field), "'{}' holds a '{}' part", path,
                         part);
    start = end + 1;
  }
  // Inside or outside is decided first, and answered the same however the outside looks, so
  // a refusal tells nothing about files the client cannot see.
  auto resolution =
      TRY(about_field(resolve_existing_part(path), ErrorKind::invalid, std::string(field)));
  std::string resolved = resolution.joined();
  if (!inside(resolved) || resolution.dangling)
    return field_error(ErrorKind::forbidden, std::string(field),
                       "{} is outside the directories havend may use, links followed ({}; "
                       "havend --allow-path)",
                       path, fmt::join(m_roots, ", "));
  struct stat st {};
  bool exists = ::stat(resolution.existing.c_str(), &st) == 0;
  if (!resolution.tail.empty() && exists && !S_ISDIR(st.st_mode))
    return field_error(ErrorKind::invalid, std::string(field),
                       "{}: a part of it is a file, not a directory", path);
  if (use == Use::snapshot_target && resolution.tail.empty() &&
      (!S_ISDIR(st.st_mode) || !takes_a_snapshot(resolved)))
    return field_error(ErrorKind::conflict, std::string(field),
                       "{} exists and is neither empty nor an earlier snapshot", path);
  return {};
}

Result<void> PathPolicy::check_config(const vmm::VmConfig& config) const {
  if (!config.kernel.empty()) TRY(check("kernel", config.kernel));
  if (config.initrd) TRY(check("initrd", *config.initrd));
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const vmm::DiskConfig& disk = config.disks[i];
    TRY(check(fmt::format("disks[{}].path", i), disk.path));
    if (!disk.restore_repo.empty())
      TRY(check(fmt::format("disks[{}].restore_repo", i), disk.restore_repo));
  }
  if (config.cdrom) TRY(check("cdrom", *config.cdrom));
  if (config.floppy) TRY(check("floppy", *config.floppy));
  if (config.nvram) TRY(check("nvram", *config.nvram));
  return {};
}

}  // namespace haven::daemon
