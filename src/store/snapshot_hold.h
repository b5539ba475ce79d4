#pragma once

// Holds: snapshots something still reads from, which prune keeps whatever its rules say.
// An instant restore's image fills itself from its snapshot for minutes or days; removing the
// snapshot under it would turn the guest's reads into I/O errors. havend writes a hold when
// it starts one: REPO/holds/<snapshot id>.<key>.json, naming the image and its machine. The
// hold ends when the image is complete or gone, which whoever prunes on that machine judges
// (the store does not know about images) and then removes the hold; a prune elsewhere (the
// repository shared or copied offsite) cannot tell and keeps the snapshot. Not backup data:
// losing a hold loses only the guard.
//
// Like boot records, holds are plain JSON even in an encrypted repository (they name the
// guest and its image path, never its data).

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "store/repository.h"

namespace haven::store {

struct SnapshotHold {
  std::string snapshot;  // the full id
  std::string image;     // the image filling from it (absolute)
  std::string holder;    // who, for people: "instant restore of guest 'web2'"
  std::string host;      // the machine the image is on (its host name)
  int64_t time = 0;      // seconds since the epoch (UTC) when it was taken
  std::string file;      // where it is (set by write_hold and read_holds)
};

// This machine's host name, as holds written here carry it.
std::string this_host();
// REPO/holds.lock, held (flock) by a prune from reading the holds until its manifests are
// gone, and by write_hold; released when destroyed.
class HoldsLock {
 public:
  explicit HoldsLock(UniqueFd fd) : m_fd(std::move(fd)) {}

 private:
  UniqueFd m_fd;
};
// Waits for the lock (a prune holds it for milliseconds: the hold check and the unlinks).
Result<HoldsLock> lock_holds(const Repository& repository);

// Durable once it returns; one hold per (snapshot, host, image), so writing it again replaces
// it. Fails with ENOENT (and leaves no hold) when the snapshot is gone: a prune removed it.
Result<void> write_hold(const Repository& repository, SnapshotHold& hold);
// Every hold, by snapshot id; a hold that cannot be read is an error (prune stops rather than
// guess).
Result<std::vector<SnapshotHold>> read_holds(const Repository& repository);
// Removes it; a hold already gone is not an error.
Result<void> remove_hold(const SnapshotHold& hold);

}  // namespace haven::store
