#include "daemon/vm_registry.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/bytes.h"
#include "base/sys.h"

namespace haven::daemon {
namespace {

constexpr size_t kMaxDefinitionBytes = 1 << 20;

}  // namespace

Result<std::unique_ptr<VmRegistry>> VmRegistry::open(const std::string& directory) {
  TRY(sys::ensure_directory(directory, 0700));
  auto registry = std::make_unique<VmRegistry>(directory);
  DIR* dir = ::opendir(directory.c_str());
  if (!dir) return errno_error("open directory {}", directory);
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  MutexLock lock(registry->m_mutex);  // not shared yet, but the analysis wants it held
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() <= 5 || name.substr(name.size() - 5) != ".json") continue;
    std::string file = directory + "/" + name;
    auto bytes = TRY(sys::read_file(file, kMaxDefinitionBytes));
    auto definition =
        TRY(with_context(vm_definition_from_json(std::string(bytes.begin(), bytes.end())),
                         "VM definition {}", file));
    if (definition.name + ".json" != name)
      return make_error("VM definition {} names itself '{}'", file, definition.name);
    registry->m_vms.emplace(definition.name, std::move(definition));
  }
  return registry;
}

Result<void> VmRegistry::write(const VmDefinition& definition) {
  return write_file_atomic(file_of(definition.name), bytes_of(vm_definition_to_json(definition)));
}

Result<void> VmRegistry::add(const VmDefinition& definition) {
  MutexLock lock(m_mutex);
  if (m_vms.count(definition.name)) return make_error("name: '{}' exists", definition.name);
  TRY(write(definition));
  m_vms.emplace(definition.name, definition);
  return {};
}

Result<void> VmRegistry::replace(const VmDefinition& definition) {
  MutexLock lock(m_mutex);
  auto found = m_vms.find(definition.name);
  if (found == m_vms.end()) return make_error("no VM named '{}'", definition.name);
  TRY(write(definition));
  found->second = definition;
  return {};
}

Result<void> VmRegistry::remove(const std::string& name) {
  MutexLock lock(m_mutex);
  auto found = m_vms.find(name);
  if (found == m_vms.end()) return make_error("no VM named '{}'", name);
  TRY(sys::remove_file(file_of(name)));
  TRY(fsync_directory(m_directory));
  m_vms.erase(found);
  return {};
}

std::optional<VmDefinition> VmRegistry::find(const std::string& name) const {
  MutexLock lock(m_mutex);
  auto found = m_vms.find(name);
  if (found == m_vms.end()) return std::nullopt;
  return found->second;
}

std::vector<VmDefinition> VmRegistry::list() const {
  MutexLock lock(m_mutex);
  std::vector<VmDefinition> all;
  for (const auto& [name, definition] : m_vms) all.push_back(definition);
  return all;
}

}  // namespace haven::daemon
