#pragma once

// The directories whose files the API may name (issue 21). havend runs as root, so a path in
// a request (a disk, kernel, ISO, snapshot directory, repository) would otherwise reach any
// file on the host: a disk of /etc/shadow, a snapshot written into /etc. Each such path must
// lie in one of the allowed directories (`havend --allow-path DIR`, by default the state
// directory), judged after every symbolic link in it is followed, so a link inside an allowed
// directory cannot lead out of it. A path outside is refused: ErrorKind::forbidden (403), the
// same answer however the outside looks.
//
// What this does not close (docs/API.md, "Trust model"): a link made after the check, since
// havend and the VMM open the files later by name (at each guest reset too); links inside a
// named repository or snapshot directory are the store's and the VMM's to refuse. The jail
// (issue 21) closes the first: the launcher opens the files and hands in descriptors.

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "vmm/vm_config.h"

namespace haven::daemon {

class PathPolicy {
 public:
  // ROOTS: existing directories, or single files (a block device: an LVM volume's
  // /dev/VG/LV, allowed as the /dev/dm-N it leads to); kept with every link followed.
  static Result<PathPolicy> make(const std::vector<std::string>& roots);
  // havend's: ROOTS, and in its state directory STATE/disks (where it keeps restored disks
  // and UEFI variables) and STATE/images (for the administrator's images), both made if
  // missing; never the rest of STATE (definitions, statuses, logs).
  static Result<PathPolicy> for_state(std::vector<std::string> roots, const std::string& state);

  enum class Use {
    any,             // a file or directory; one that does not exist yet may be made there
    snapshot_target  // a new directory, an empty one, or an earlier snapshot's (replaced)
  };
  // Whether `path`, named by the request's `field`, may be used: absolute, no "." or ".."
  // parts, and inside an allowed directory once resolved (the part that exists).
  Result<void> check(std::string_view field, const std::string& path, Use use = Use::any) const;
  // Every path a guest's definition names: kernel, initrd, disks (and the repositories they
  // are restored from), CD-ROM, floppy, UEFI variables.
  Result<void> check_config(const vmm::VmConfig& config) const;

  const std::vector<std::string>& roots() const { return m_roots; }

 private:
  explicit PathPolicy(std::vector<std::string> roots) : m_roots(std::move(roots)) {}
  bool inside(const std::string& resolved) const;

  std::vector<std::string> m_roots;
};

}  // namespace haven::daemon
