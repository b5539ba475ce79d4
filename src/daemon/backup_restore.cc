#include "daemon/backup_restore.h"

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "base/atomic_file.h"
#include "block/hydrating_image.h"
#include "store/repository.h"
#include "store/restore.h"
#include "store/snapshot_hold.h"
#include "vmm/snapshot_file.h"

namespace haven::daemon {

Result<PreparedRestore> prepare_backup_restore(const BackupRestoreRequest& request,
                                               RepositorySessions& repositories,
                                               const std::string& disk_dir) {
  TRY(with_context(validate_vm_name(request.name), "name"));
  if (request.repo.empty() || request.repo.front() != '/')
    return make_error("repo: '{}' is not an absolute directory", request.repo);
  auto repository = TRY(repositories.open(request.repo, request.passphrase));
  auto snapshot = TRY(with_context(repository->find_snapshot(request.snapshot), "snapshot"));

  PreparedRestore prepared;
  prepared.snapshot_id = snapshot.id;
  prepared.repository = repository;
  VmDefinition& definition = prepared.definition;
  definition.name = request.name;
  size_t own = 0;  // the restored disk's index
  if (!snapshot.vm.empty()) {
    auto original = TRY(with_context(vm_definition_from_json(snapshot.vm),
                                     "snapshot {}: its VM config", snapshot.id));
    definition.config = original.config;
    definition.limits = original.limits;
    own = snapshot.disk >= 0 ? static_cast<size_t>(snapshot.disk) : 0;
    if (own >= definition.config.disks.size())
      return make_error("snapshot {}: disk {} of a guest with {} disks", snapshot.id, own,
                        definition.config.disks.size());
    if (!definition.config.nets.empty()) {
      prepared.notes.push_back(
          fmt::format("{} network interface(s) of '{}' left out (it may still use them)",
                      definition.config.nets.size(), snapshot.name));
      definition.config.nets.clear();
    }
    std::vector<vmm::DiskConfig> kept;
    for (size_t i = 0; i < definition.config.disks.size(); ++i) {
      const vmm::DiskConfig& disk = definition.config.disks[i];
      if (i == own) {
        own = kept.size();
        kept.push_back(disk);
      } else if (disk.readonly) {
        kept.push_back(disk);
      } else {
        prepared.notes.push_back(
            fmt::format("disk {} ({}) left out: it is not in this snapshot", i, disk.path));
      }
    }
    definition.config.disks = std::move(kept);
  } else {
    if (!request.kernel)
      return make_error(
          "kernel: snapshot {} is a bare disk; give --kernel (and --initrd, "
          "--cmdline) to boot it",
          snapshot.id);
    definition.config.disks.push_back({});
  }
  if (request.kernel) definition.config.kernel = *request.kernel;
  if (request.initrd) definition.config.initrd = *request.initrd;
  if (request.cmdline) definition.config.cmdline = *request.cmdline;
  if (request.memory) definition.config.memory = *request.memory;
  if (request.cpus) definition.config.cpus = *request.cpus;
  definition.config.console = {};
  definition.config.console_log.reset();
  TRY(with_context(vmm::validate(definition.config), "config"));

  std::string parent = disk_dir.substr(0, disk_dir.rfind('/'));
  if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) return errno_error("mkdir {}", parent);
  if (::mkdir(disk_dir.c_str(), 0700) != 0)
    return errno_error("mkdir {} (left from an earlier guest '{}'?)", disk_dir, request.name);
  vmm::DiskConfig& disk = definition.config.disks[own];
  disk.path = disk_dir + "/" + vmm::snapshot_disk_name(own);
  disk.readonly = false;
  disk.restore_repo.clear();  // whatever the original guest was restored from once
  disk.restore_snapshot.clear();
  disk.hydrate = true;
  disk.fill_paused = false;
  if (request.instant) {
    disk.restore_repo = request.repo;
    disk.restore_snapshot = snapshot.id;
    disk.hydrate = true;
    disk.fill_paused = request.fill_paused;
    // The image and its state now: the VMM then starts the guest without waiting for the
    // repository's index and the snapshot's chunk list, which grow with the disk.
    block::HydratingImage::Options options;
    options.image = disk.path;
    options.disk_bytes = snapshot.size;
    options.granularity = snapshot.chunk_size;
    options.source = repository->config().id + "/" + snapshot.id;
    auto discard_image = [&] {
      ::unlink(block::HydratingImage::state_path(disk.path).c_str());
      ::unlink(disk.path.c_str());
      ::rmdir(disk_dir.c_str());
    };
    if (auto made = block::HydratingImage::open(options, nullptr); !made) {
      discard_image();
      return std::unexpected(std::move(made).error().with_context("restore"));
    }
    TRY(fsync_directory(disk_dir));
    // Prune keeps the snapshot while the image fills from it (the hold ends by itself when
    // the image is complete or deleted). A repository it cannot write to (a read-only mount)
    // gets none: the answer says so.
    std::error_code absolute_error;
    store::SnapshotHold hold{.snapshot = snapshot.id,
                             .image = std::filesystem::absolute(disk.path, absolute_error).string(),
                             .holder = fmt::format("instant restore of guest '{}'", request.name),
                             .host = store::this_host(),
                             .time = static_cast<int64_t>(::time(nullptr)),
                             .file = {}};
    if (auto held = store::write_hold(*repository, hold); held) {
      prepared.hold = std::move(hold);
    } else if (held.error().code() == ENOENT) {  // a prune removed the snapshot meanwhile
      discard_image();
      return std::unexpected(std::move(held).error().with_context("restore"));
    } else {
      prepared.notes.push_back(
          fmt::format("no hold on the snapshot ({}): a prune could remove it while the disk fills",
                      held.error().message()));
    }
    return prepared;
  }
  store::RestoreOptions options;
  options.target = disk.path;
  if (auto restored = store::restore_snapshot(*repository, snapshot, options); !restored) {
    ::unlink(disk.path.c_str());
    ::rmdir(disk_dir.c_str());
    return std::unexpected(std::move(restored).error().with_context("restore"));
  }
  TRY(fsync_directory(disk_dir));
  return prepared;
}

}  // namespace haven::daemon
