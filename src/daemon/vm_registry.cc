#include "daemon/vm_registry.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/bytes.h"
#include "base/log.h"
#include "base/sys.h"

namespace haven::daemon {
namespace {

constexpr size_t kMaxDefinitionBytes = 1 << 20;

}  // namespace

Result<std::unique_ptr<VmRegistry>> VmRegistry::open(const std::string& directory) {
  TRY(sys::ensure_directory(directory, 0700));
  auto registry = std::make_unique<VmRegistry>(directory);
  MutexLock lock(registry->m_mutex);  // not shared yet, but the analysis wants it held
  for (const std::string& name : TRY(sys::list_directory(directory))) {
    if (name.size() <= 5 || !name.ends_with(".json")) continue;  // temporaries too
    std::string file = directory + "/" + name;
    std::string stem = name.substr(0, name.size() - 5);
    if (auto valid = validate_vm_name(stem); !valid) {  // not a file havend wrote: left alone
      log::error("{}: not a VM definition's name ({}); left alone", file, valid.error().message());
      continue;
    }
    auto loaded = [&]() -> Result<VmDefinition> {
      auto bytes = TRY(sys::read_file(file, kMaxDefinitionBytes));
      auto definition =
          TRY(with_context(vm_definition_from_json(std::string(bytes.begin(), bytes.end())),
                           "VM definition {}", file));
      if (definition.name != stem)
        return make_error("VM definition {} names itself '{}'", file, definition.name);
      return definition;
    }();
    if (!loaded) {
      log::error("{} (kept as it is; the guest is listed as broken)", loaded.error().message());
      registry->m_broken.emplace(stem, Broken{stem, loaded.error().message()});
      continue;
    }
    registry->m_vms.emplace(stem, std::move(*loaded));
  }
  return registry;
}

Result<void> VmRegistry::write(const VmDefinition& definition) {
  return write_file_atomic(file_of(definition.name), bytes_of(vm_definition_to_json(definition)));
}

Result<void> VmRegistry::add(const VmDefinition& definition) {
  MutexLock lock(m_mutex);
  // Kinds, so a request that lost a race to another is answered 409 or 404, not 500.
  if (m_vms.count(definition.name))
    return field_error(ErrorKind::conflict, "name", "'{}' exists", definition.name);
  if (auto broken = m_broken.find(definition.name); broken != m_broken.end())
    return field_error(ErrorKind::conflict, "name", "'{}' exists with a broken definition ({})",
                       definition.name, broken->second.error);
  TRY(write(definition));
  m_vms.emplace(definition.name, definition);
  return {};
}

Result<void> VmRegistry::replace(const VmDefinition& definition) {
  MutexLock lock(m_mutex);
  auto found = m_vms.find(definition.name);
  if (found == m_vms.end())
    return kind_error(ErrorKind::not_found, "no VM named '{}'", definition.name);
  TRY(write(definition));
  found->second = definition;
  return {};
}

Result<void> VmRegistry::remove(const std::string& name) {
  MutexLock lock(m_mutex);
  auto found = m_vms.find(name);
  auto broken = m_broken.find(name);
  if (found == m_vms.end() && broken == m_broken.end())
    return kind_error(ErrorKind::not_found, "no VM named '{}'", name);
  TRY(sys::remove_file(file_of(name), true));
  TRY(fsync_directory(m_directory));
  if (found != m_vms.end()) m_vms.erase(found);
  if (broken != m_broken.end()) m_broken.erase(broken);
  return {};
}

std::optional<VmDefinition> VmRegistry::find(const std::string& name) const {
  MutexLock lock(m_mutex);
  auto found = m_vms.find(name);
  if (found == m_vms.end()) return std::nullopt;
  return found->second;
}

std::optional<VmRegistry::Broken> VmRegistry::find_broken(const std::string& name) const {
  MutexLock lock(m_mutex);
  auto found = m_broken.find(name);
  if (found == m_broken.end()) return std::nullopt;
  return found->second;
}

std::vector<VmRegistry::Broken> VmRegistry::broken() const {
  MutexLock lock(m_mutex);
  std::vector<Broken> all;
  for (const auto& [name, broken] : m_broken) all.push_back(broken);
  return all;
}

std::vector<VmDefinition> VmRegistry::list() const {
  MutexLock lock(m_mutex);
  std::vector<VmDefinition> all;
  for (const auto& [name, definition] : m_vms) all.push_back(definition);
  return all;
}

}  // namespace haven::daemon
