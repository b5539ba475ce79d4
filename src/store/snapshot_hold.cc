#include "store/snapshot_hold.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/hex.h"
#include "base/sys.h"
#include "store/crypto.h"

namespace haven::store {
namespace {

constexpr size_t kHoldFileBytes = 64 << 10;

std::string holds_dir(const Repository& repository) {
  return repository.path() + "/holds";
}

bool is_hold_name(const std::string& name) {
  return name.ends_with(".json") && name.find(".tmp-") == std::string::npos;
}

}  // namespace

std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

Result<HoldsLock> lock_holds(const Repository& repository) {
  std::string path = repository.path() + "/holds.lock";
  auto fd = TRY(sys::open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  while (::flock(fd.get(), LOCK_EX) != 0)
    if (errno != EINTR) return errno_error("lock {}", path);
  return HoldsLock(std::move(fd));
}

Result<void> write_hold(const Repository& repository, SnapshotHold& hold) {
  if (hold.snapshot.empty() || hold.snapshot.find('/') != std::string::npos)
    return make_error("hold: '{}' is not a snapshot id", hold.snapshot);
  std::string dir = holds_dir(repository);
  TRY(sys::ensure_directory(dir, 0700));
  // Named by the snapshot, the host and the image: each restore has its own.
  std::string who = hold.host + '\0' + hold.image;
  ChunkId key = sha256(std::span(reinterpret_cast<const uint8_t*>(who.data()), who.size()));
  hold.file = dir + "/" + hold.snapshot + "." + to_hex(key.bytes.data(), 8) + ".json";
  // Against a prune: it holds the lock from reading the holds until its manifests are gone,
  // so either it sees this hold, or the snapshot is gone when this looks.
  auto lock = TRY(lock_holds(repository));
  nlohmann::json doc = {{"snapshot", hold.snapshot},
                        {"image", hold.image},
                        {"holder", hold.holder},
                        {"host", hold.host},
                        {"time", hold.time}};
  std::string text = doc.dump(2) + "\n";
  TRY(write_file_atomic(hold.file,
                        std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
  TRY(fsync_directory(dir));
  std::string manifest = repository.path() + "/snapshots/" + hold.snapshot;
  if (::access(manifest.c_str(), F_OK) != 0) {
    int error = errno;
    (void)sys::remove_file(hold.file, true);
    return std::unexpected(Error::from_errno(
        fmt::format("snapshot {}{}", hold.snapshot, error == ENOENT ? " (removed by a prune)" : ""),
        error));
  }
  return {};
}

Result<std::vector<SnapshotHold>> read_holds(const Repository& repository) {
  std::string dir = holds_dir(repository);
  std::vector<SnapshotHold> holds;
  if (!TRY(sys::exists(dir))) return holds;
  for (const std::string& name : TRY(sys::list_directory(dir))) {
    if (!is_hold_name(name)) continue;  // temporaries of a write that died
    std::string path = dir + "/" + name;
    auto bytes = sys::read_file(path, kHoldFileBytes);
    if (!bytes) {
      if (bytes.error().code() == ENOENT) continue;  // removed meanwhile
      return std::unexpected(std::move(bytes).error());
    }
    auto doc = nlohmann::json::parse(bytes->begin(), bytes->end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return make_error("hold {}: not JSON", path);
    SnapshotHold hold;
    try {
      hold.snapshot = doc.at("snapshot").get<std::string>();
      hold.image = doc.at("image").get<std::string>();
      hold.holder = doc.value("holder", "");
      hold.host = doc.value("host", "");
      hold.time = doc.value("time", int64_t{0});
    } catch (const nlohmann::json::exception& error) {
      return make_error("hold {}: {}", path, error.what());
    }
    hold.file = std::move(path);
    holds.push_back(std::move(hold));
  }
  return holds;
}

Result<void> remove_hold(const SnapshotHold& hold) {
  return with_context(sys::remove_file(hold.file, true), "hold");
}

}  // namespace haven::store
