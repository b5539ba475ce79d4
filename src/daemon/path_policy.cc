#include "daemon/path_policy.h"

#include <dirent.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

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

// The path with its deepest existing ancestor resolved and the rest (which does not exist,
// so holds no link) appended. A link that leads nowhere is refused: what it names would be
// made wherever it points.
Result<std::string> resolve_existing_part(const std::string& path) {
  std::string head = path, tail;
  while (true) {
    if (auto resolved = TRY(resolve(head))) {
      if (tail.empty()) return *resolved;
      struct stat st {};
      if (::stat(resolved->c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return make_error("{}: {} is not a directory", path, head);
      return *resolved == "/" ? "/" + tail : *resolved + "/" + tail;
    }
    struct stat st {};
    if (::lstat(head.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
      return kind_error(ErrorKind::forbidden, "{}: {} is a link to nothing", path, head);
    size_t slash = head.rfind('/');
    if (slash == 0) return path;  // nothing of it exists, not even its first directory
    tail = head.substr(slash + 1) + (tail.empty() ? "" : "/" + tail);
    head.resize(slash);
  }
}

bool directory_is_empty(const std::string& path) {
  auto names = sys::list_directory(path);
  return names && names->empty();
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
  auto found = resolve_existing_part(path);
  if (!found) {
    ErrorKind kind =
        found.error().kind() == ErrorKind::forbidden ? ErrorKind::forbidden : ErrorKind::invalid;
    return std::unexpected(std::move(found.error())
                               .with_context(std::string(field))
                               .with_kind(kind, std::string(field)));
  }
  const std::string& resolved = *found;
  if (!inside(resolved))
    return field_error(ErrorKind::forbidden, std::string(field),
                       "{} is outside the directories havend may use ({}; havend --allow-path)",
                       path == resolved ? path : fmt::format("{} (really {})", path, resolved),
                       fmt::join(m_roots, ", "));
  if (use == Use::empty_directory) {
    struct stat st {};
    if (::stat(resolved.c_str(), &st) == 0 &&
        (!S_ISDIR(st.st_mode) || !directory_is_empty(resolved)))
      return field_error(ErrorKind::conflict, std::string(field),
                         "{} exists and is not an empty directory", path);
  }
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
