#pragma once

// The VM definitions havend holds, one JSON file per guest under STATE/vms/, each written
// atomically (temp + rename + fsync), so a crash leaves every definition whole. Thread-safe.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/mutex.h"
#include "daemon/vm_record.h"

namespace haven::daemon {

class VmRegistry {
 public:
  // Loads every definition in `directory` (created if missing). A file that does not parse is
  // an error naming it: the daemon refuses to start rather than forget a guest.
  static Result<std::unique_ptr<VmRegistry>> open(const std::string& directory);

  // Fails when the name is taken.
  Result<void> add(const VmDefinition& definition);
  // Fails when the name is unknown.
  Result<void> replace(const VmDefinition& definition);
  Result<void> remove(const std::string& name);
  std::optional<VmDefinition> find(const std::string& name) const;
  std::vector<VmDefinition> list() const;  // sorted by name

  explicit VmRegistry(std::string directory) : m_directory(std::move(directory)) {}

 private:
  Result<void> write(const VmDefinition& definition);
  std::string file_of(const std::string& name) const { return m_directory + "/" + name + ".json"; }

  std::string m_directory;
  mutable Mutex m_mutex;
  std::map<std::string, VmDefinition> m_vms HAVEN_GUARDED_BY(m_mutex);
};

}  // namespace haven::daemon
