#include "daemon/backup_restore.h"

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "base/atomic_file.h"
#include "base/sys.h"
#include "block/hydrating_image.h"
#include "daemon/new_disk_dir.h"
#include "store/repository.h"
#include "store/restore.h"
#include "store/snapshot_hold.h"
#include "vmm/restored_boot.h"
#include "vmm/snapshot_layout.h"

namespace haven::daemon {
namespace {

// The new guest's definition: the snapshot's VM config (keeping, of its writable disks, the
// snapshot's own, which becomes a plain disk in `disk_dir`), or a bare disk's; then the
// request's choices. Returns the index of the snapshot's disk in it.
Result<size_t> define_guest(const store::SnapshotHead& snapshot,
                            const BackupRestoreRequest& request, const std::string& disk_dir,
                            PreparedRestore& prepared) {
  VmDefinition& definition = prepared.definition;
  definition.name = request.name;
  size_t own = 0;
  bool bare = snapshot.vm.empty();
  if (!bare) {
    // Its errors are about the snapshot the request named, not about the request's fields.
    auto original = TRY(with_kind(with_context(vm_definition_from_json(snapshot.vm),
                                               "snapshot {}: its VM config", snapshot.id),
                                  ErrorKind::invalid, "snapshot"));
    definition.config = original.config;
    definition.limits = original.limits;
    own = snapshot.disk >= 0 ? static_cast<size_t>(snapshot.disk) : 0;
    if (own >= definition.config.disks.size())
      return field_error(ErrorKind::invalid, "snapshot", "{}: disk {} of a guest with {} disks",
                         snapshot.id, own, definition.config.disks.size());
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
    // The original guest's variable store, never to be shared (place_nvram gives a new one).
    definition.config.nvram.reset();
  } else {
    definition.config.disks.push_back({});
  }
  vmm::DiskConfig& disk = definition.config.disks[own];
  disk.path = disk_dir + "/" + vmm::snapshot_disk_name(own);
  disk.readonly = false;
  disk.restore_repo.clear();  // whatever the original guest was restored from once
  disk.restore_snapshot.clear();
  disk.hydrate = true;
  disk.fill_paused = false;
  auto notes = TRY(
      with_kind(vmm::apply_boot_choice(definition.config, request.boot, bare), ErrorKind::invalid));
  prepared.notes.insert(prepared.notes.end(), notes.begin(), notes.end());
  if (request.memory) definition.config.memory = *request.memory;
  if (request.cpus) definition.config.cpus = *request.cpus;
  definition.config.console = {};
  definition.config.console_log.reset();
  TRY(about_field(vmm::validate(definition.config), ErrorKind::invalid, "config"));
  return own;
}

// The disk as a restoring image that the VMM fills from the snapshot as the guest runs, and a
// hold that keeps prune off the snapshot meanwhile.
Result<void> make_restoring_disk(const BackupRestoreRequest& request,
                                 const store::SnapshotHead& snapshot, const std::string& disk_dir,
                                 vmm::DiskConfig& disk, PreparedRestore& prepared) {
  store::Repository& repository = *prepared.repository;
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
  options.source = repository.config().id + "/" + snapshot.id;
  TRY(with_context(block::HydratingImage::open(options, nullptr), "restore"));
  TRY(fsync_directory(disk_dir));
  // Prune keeps the snapshot while the image fills from it (the hold ends by itself when the
  // image is complete or deleted). A repository it cannot write to (a read-only mount) gets
  // none: the answer says so.
  std::error_code absolute_error;
  store::SnapshotHold hold{.snapshot = snapshot.id,
                           .image = std::filesystem::absolute(disk.path, absolute_error).string(),
                           .holder = fmt::format("instant restore of guest '{}'", request.name),
                           .host = store::this_host(),
                           .time = static_cast<int64_t>(::time(nullptr)),
                           .file = {}};
  if (auto held = store::write_hold(repository, hold); held) {
    prepared.hold = std::move(hold);
  } else if (held.error().code() == ENOENT) {  // a prune removed the snapshot meanwhile
    return std::unexpected(std::move(held).error().with_context("restore"));
  } else {
    prepared.notes.push_back(
        fmt::format("no hold on the snapshot ({}): a prune could remove it while the disk fills",
                    held.error().message()));
  }
  return {};
}

}  // namespace

Result<PreparedRestore> prepare_backup_restore(const BackupRestoreRequest& request,
                                               RepositorySessions& repositories,
                                               const std::string& disk_dir) {
  TRY(validate_vm_name(request.name));
  if (request.repo.empty() || request.repo.front() != '/')
    return field_error(ErrorKind::invalid, "repo", "'{}' is not an absolute directory",
                       request.repo);
  auto repository = TRY(repositories.open(request.repo, request.passphrase));
  // The head alone (metadata, VM config, variables): what an instant restore needs, and read
  // in the same time for any disk size. The chunk ids are read (and checked) by the VMM as the
  // guest boots; damage there shows as failed fetches in the disk's fill progress.
  auto snapshot = TRY(about_field(repository->find_snapshot_head(request.snapshot),
                                  ErrorKind::invalid, "snapshot"));

  PreparedRestore prepared;
  prepared.snapshot_id = snapshot.id;
  prepared.repository = repository;
  size_t own = TRY(define_guest(snapshot, request, disk_dir, prepared));
  vmm::VmConfig& config = prepared.definition.config;
  vmm::DiskConfig& disk = config.disks[own];

  NewDiskDir made = TRY(NewDiskDir::make(disk_dir, request.name));
  TRY(with_context(vmm::place_nvram(config, snapshot.nvram, disk_dir), "restore"));
  if (request.instant) {
    TRY(make_restoring_disk(request, snapshot, disk_dir, disk, prepared));
  } else {
    store::RestoreOptions options;
    options.target = disk.path;
    auto whole = TRY(with_context(
        about_field(repository->read_snapshot(snapshot.id), ErrorKind::invalid, "snapshot"),
        "restore"));
    TRY(with_context(store::restore_snapshot(*repository, whole, options), "restore"));
    TRY(fsync_directory(disk_dir));
  }
  made.keep();
  return prepared;
}

}  // namespace haven::daemon
