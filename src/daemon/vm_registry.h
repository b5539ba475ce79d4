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
  // A definition file that could not be read or does not parse: its guest is listed as broken
  // and the file is kept as it is, so one damaged file neither stops the daemon nor is lost.
  struct Broken {
    std::string name;   // the file's name without .json
    std::string error;  // why, naming the file
  };

  // Loads every definition in `directory` (created if missing); a file that does not load is
  // kept as a broken guest (logged), the rest load as usual.
  static Result<std::unique_ptr<VmRegistry>> open(const std::string& directory);

  // Fails when the name is taken, by a broken definition too.
  Result<void> add(const VmDefinition& definition);
  // Fails when the name is unknown.
  Result<void> replace(const VmDefinition& definition);
  // Removes a definition, or a broken one's file.
  Result<void> remove(const std::string& name);
  std::optional<VmDefinition> find(const std::string& name) const;
  std::vector<VmDefinition> list() const;  // sorted by name
  std::optional<Broken> find_broken(const std::string& name) const;
  std::vector<Broken> broken() const;  // sorted by name

  explicit VmRegistry(std::string directory) : m_directory(std::move(directory)) {}

 private:
  Result<void> write(const VmDefinition& definition);
  std::string file_of(const std::string& name) const { return m_directory + "/" + name + ".json"; }

  std::string m_directory;
  mutable Mutex m_mutex;
  std::map<std::string, VmDefinition> m_vms HAVEN_GUARDED_BY(m_mutex);
  std::map<std::string, Broken> m_broken HAVEN_GUARDED_BY(m_mutex);
};

}  // namespace haven::daemon
