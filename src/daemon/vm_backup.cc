#include "daemon/vm_backup.h"

#include <unistd.h>

#include <chrono>
#include <optional>

#include "base/log.h"
#include "base/sys.h"
#include "block/bitmap_file.h"
#include "block/dirty_bitmap.h"
#include "block/hydrating_image.h"
#include "block/point_in_time.h"
#include "store/backup.h"
#include "store/repository.h"

namespace haven::daemon {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kControlTimeout = std::chrono::seconds(30);

// A baseline names "REPOSITORY-ID/SNAPSHOT-ID": the parent, when that snapshot is still there.
std::optional<store::Snapshot> parent_for(const store::Repository& repository,
                                          const std::string& baseline) {
  std::string prefix = repository.config().id + "/";
  if (!baseline.starts_with(prefix)) return std::nullopt;
  auto snapshot = repository.read_snapshot(baseline.substr(prefix.size()));
  if (!snapshot) return std::nullopt;  // pruned, or never here
  // One with chunks found damaged (or gone) is no parent: the whole disk is read, and what
  // was damaged is stored again. The marks are read now: this repository may have been
  // opened before a verify made them.
  if (!repository.holds_all_healthy_now(snapshot->chunks).value_or(false)) return std::nullopt;
  return std::move(*snapshot);
}

std::string baseline_of(const store::Repository& repository, const store::Snapshot& snapshot) {
  return repository.config().id + "/" + snapshot.id;
}

struct DiskJob {
  size_t index = 0;
  const vmm::DiskConfig* disk = nullptr;
  store::BackupOptions options;
};

// `changed`: the chunk-sized blocks the tracking reported changed (when incremental).
json describe(const DiskJob& job, const store::Snapshot& snapshot, bool incremental, bool running,
              uint64_t changed, uint64_t read_bytes, double seconds) {
  return {{"disk", job.index},
          {"path", job.disk->path},
          {"id", snapshot.id},
          {"incremental", incremental},
          {"running", running},
          {"size", snapshot.size},
          {"changed_blocks", changed},
          {"read_bytes", read_bytes},
          {"new_bytes", snapshot.new_bytes},
          {"stored_bytes", snapshot.stored_bytes},
          {"seconds", seconds}};
}

// A running guest's disk, seen as it was when the backup began.
struct RunningView {
  std::string state, data;  // the view's files (block/point_in_time.h)
  std::string baseline;     // the VMM's tracking baseline for the disk ("" without one)
  std::optional<store::Snapshot> parent;
  vmm::control::BackupView begun;  // the VMM's answer for this disk
  bool ended = false;
};

// The views of every disk in `jobs`, taken by the VMM in one pause: together they are the
// guest's disks at one instant, however long the backups then take.
Result<std::vector<RunningView>> begin_views(Supervisor& supervisor,
                                             const store::Repository& repository,
                                             const std::string& name,
                                             const std::vector<DiskJob>& jobs,
                                             const std::string& nvram_copy) {
  json stats = TRY(
      supervisor.control(name, vmm::control::request(vmm::control::Op::stats), kControlTimeout));
  std::vector<std::string> baselines;  // by disk index: the VMM's disks come first, in order
  for (const json& device : stats.value("devices", json::array()))
    if (device.value("name", "") == "virtio-blk")
      baselines.push_back(device.value("cbt_baseline", std::string()));
  const std::string run = supervisor.paths().run_dir();
  std::vector<RunningView> views(jobs.size());
  vmm::control::BackupBeginRequest request;
  request.nvram = nvram_copy;
  for (size_t i = 0; i < jobs.size(); ++i) {
    RunningView& view = views[i];
    size_t index = jobs[i].index;
    view.baseline = index < baselines.size() ? baselines[index] : "";
    view.parent = parent_for(repository, view.baseline);
    view.state = fmt::format("{}/{}.backup-{}.state", run, name, index);
    view.data = fmt::format("{}/{}.backup-{}.data", run, name, index);
    request.disks.push_back({index, view.state, view.data, view.parent ? view.baseline : "",
                             repository.config().chunk_size});
  }
  json answer = TRY(supervisor.control(name, vmm::control::to_json(request), kControlTimeout));
  auto begun = TRY(with_context(vmm::control::backup_begin_answer_from_json(answer),
                                "{}: the VMM's answer to backup_begin", name));
  if (begun.views.size() != jobs.size())
    return make_error("the VMM gave {} backup views for {} disks", begun.views.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) views[i].begun = std::move(begun.views[i]);
  return views;
}

// Tells the VMM the view's backup ended: committed as `baseline`, or abandoned.
void end_view(Supervisor& supervisor, const std::string& name, size_t index, RunningView& view,
              bool commit, const std::string& baseline) {
  if (view.ended) return;
  view.ended = true;
  auto ended = supervisor.control(
      name, vmm::control::to_json(vmm::control::BackupEndRequest{index, commit, baseline}),
      kControlTimeout);
  if (!ended)
    log::warn("{}: disk {}: ending the backup view: {} (the next backup reads what it must)", name,
              index, ended.error().message());
  (void)sys::remove_file(view.state, true);  // best effort: a leftover is only space
  (void)sys::remove_file(view.data, true);
}

Result<json> back_up_running(Supervisor& supervisor, store::Repository& repository,
                             const std::string& name, DiskJob& job, RunningView& view_of_disk) {
  auto started = Clock::now();
  const vmm::control::BackupView& begun = view_of_disk.begun;
  bool incremental = begun.incremental && view_of_disk.parent;
  auto reader = block::PointInTimeReader::open(view_of_disk.state, view_of_disk.data, begun.path,
                                               begun.disk_bytes, begun.granularity);
  if (!reader) {
    end_view(supervisor, name, job.index, view_of_disk, false, "");
    return std::unexpected(std::move(reader).error());
  }
  store::BackupOptions& options = job.options;
  block::PointInTimeReader& view = **reader;
  options.read = [&view](uint64_t offset, std::span<uint8_t> out) {
    return view.read(offset, out);
  };
  if (incremental) {
    options.parent = &*view_of_disk.parent;
    options.changed = [&view](uint64_t offset, uint64_t length) {
      return view.wanted(offset, length);
    };
  }
  uint64_t read_bytes = 0;
  auto progress = options.progress;
  options.progress = [&](const store::Progress& p) {
    read_bytes = p.read_bytes;
    if (progress) progress(p);
  };
  auto snapshot = store::backup_image(repository, options);
  if (!snapshot) {
    end_view(supervisor, name, job.index, view_of_disk, false, "");
    return std::unexpected(std::move(snapshot).error());
  }
  end_view(supervisor, name, job.index, view_of_disk, true, baseline_of(repository, *snapshot));
  return describe(job, *snapshot, incremental, true, incremental ? begun.wanted_blocks : 0,
                  read_bytes, std::chrono::duration<double>(Clock::now() - started).count());
}

Result<json> back_up_stopped(store::Repository& repository, DiskJob& job) {
  auto started = Clock::now();
  const std::string& path = job.disk->path;
  if (::access(block::HydratingImage::state_path(path).c_str(), F_OK) == 0 &&
      !block::HydratingImage::is_complete(path))
    return make_error(
        "{} is still being restored (its fill has not completed): start the guest "
        "to let it complete, then back it up",
        path);
  const std::string tracking = block::tracking_path(job.disk->path);
  std::optional<block::TrackingState> state;
  std::optional<store::Snapshot> parent;
  std::optional<block::DirtyBitmap> dirty;
  if (job.disk->cbt) {
    state = TRY(block::read_tracking(tracking));
    // A bitmap older than the disk's last change missed writes (see bitmap_file.h).
    if (state && state->valid && !block::image_newer_than_tracking(job.disk->path, tracking))
      parent = parent_for(repository, state->baseline);
    if (parent) {
      dirty.emplace(state->disk_bytes, state->granularity);
      if (!dirty->merge(state->words)) parent.reset();
    }
  }
  store::BackupOptions& options = job.options;
  if (parent) {
    options.parent = &*parent;
    options.changed = [&dirty](uint64_t offset, uint64_t length) {
      return dirty->any_dirty(offset, length);
    };
  }
  uint64_t read_bytes = 0;
  auto progress = options.progress;
  options.progress = [&](const store::Progress& p) {
    read_bytes = p.read_bytes;
    if (progress) progress(p);
  };
  auto snapshot = TRY(store::backup_image(repository, options));
  // Tracking should not be used if the backup ignored it (another size), so it is judged by
  // what was read: with a parent of the disk's size, unchanged chunks were taken from it.
  bool incremental =
      parent && parent->size == snapshot.size && parent->chunk_size == snapshot.chunk_size;
  if (job.disk->cbt) {
    block::TrackingState reset;
    reset.granularity = block::DirtyBitmap::kDefaultGranularity;
    reset.disk_bytes = snapshot.size;
    reset.valid = true;
    reset.baseline = baseline_of(repository, snapshot);
    uint64_t blocks = (snapshot.size + reset.granularity - 1) / reset.granularity;
    reset.words.assign((blocks + 63) / 64, 0);
    if (auto saved = block::close_tracking(tracking, reset); !saved)
      log::warn("{}: {} (the next backup reads the whole disk)", tracking, saved.error().message());
  }
  return describe(job, snapshot, incremental, false, incremental ? dirty->dirty_count() : 0,
                  read_bytes, std::chrono::duration<double>(Clock::now() - started).count());
}

// A UEFI guest's variable store, for every snapshot of its disks (each can be restored on its
// own): of a running guest, the copy its VMM wrote in the pause that took the disks' views (the
// same instant; `copy`), else the guest's own file; empty when it has none yet (never started).
Result<std::vector<uint8_t>> read_nvram(const vmm::VmConfig& config, const std::string& copy) {
  if (config.firmware != vmm::Firmware::uefi || !config.nvram) return std::vector<uint8_t>{};
  auto bytes = sys::read_file(copy.empty() ? *config.nvram : copy, store::kMaxManifestNvram);
  if (!copy.empty()) {
    (void)sys::remove_file(copy, true);  // best effort: a leftover is only space
    // No copy: the guest's store was not mapped (yet); its file is all there is.
    if (!bytes && bytes.error().code() == ENOENT)
      bytes = sys::read_file(*config.nvram, store::kMaxManifestNvram);
  }
  if (!bytes && bytes.error().code() == ENOENT) return std::vector<uint8_t>{};
  return with_context(std::move(bytes), "the guest's UEFI variables");
}

}  // namespace

Result<json> back_up_vm(Supervisor& supervisor, RepositorySessions& repositories,
                        const VmDefinition& definition, const VmBackupOptions& options,
                        const Jobs::Report& report) {
  auto repository = TRY(repositories.open(options.repo, options.passphrase));
  // The guest as it is to be booted again: a disk it was once restored from a backup into is
  // a plain disk in this backup. Its UEFI variables go as bytes, not as the path of the
  // original's store, which a restored guest must never share.
  VmDefinition stored = definition;
  stored.config.nvram.reset();
  for (auto& disk : stored.config.disks) {
    disk.restore_repo.clear();
    disk.restore_snapshot.clear();
    disk.hydrate = true;
    disk.fill_paused = false;
  }
  std::string vm = vm_definition_to_json(stored);
  const auto& disks = definition.config.disks;
  std::vector<DiskJob> jobs;
  for (size_t i = 0; i < disks.size(); ++i) {
    if (disks[i].readonly) continue;  // never changes: not the guest's data
    DiskJob job{i, &disks[i], {}};
    job.options.source = disks[i].path;
    job.options.name = definition.name;
    job.options.tags = options.tags;
    job.options.tags.push_back("vm=" + definition.name);
    job.options.tags.push_back(fmt::format("disk={}", i));
    job.options.vm = vm;
    job.options.disk = static_cast<int64_t>(i);
    job.options.progress = [&report, i, &disks](const store::Progress& p) {
      report({{"disk", i},
              {"disks", disks.size()},
              {"done_bytes", p.done_bytes},
              {"total_bytes", p.total_bytes},
              {"read_bytes", p.read_bytes},
              {"new_bytes", p.new_bytes}});
    };
    jobs.push_back(std::move(job));
  }
  if (jobs.empty())
    return make_error("disks: '{}' has no writable disk to back up", definition.name);
  VmState state = supervisor.status(definition.name).state;
  bool running = state == VmState::running || state == VmState::paused;
  if (is_up(state) && !running)
    return field_error(ErrorKind::conflict, "state",
                       "'{}' is {}; back it up once it is running or stopped", definition.name,
                       to_string(state));
  std::vector<RunningView> views;
  std::string nvram_copy;
  if (running && definition.config.firmware == vmm::Firmware::uefi && definition.config.nvram)
    nvram_copy = fmt::format("{}/{}.backup.nvram", supervisor.paths().run_dir(), definition.name);
  if (running) views = TRY(begin_views(supervisor, *repository, definition.name, jobs, nvram_copy));
  auto nvram = read_nvram(definition.config, nvram_copy);
  if (!nvram) {
    for (size_t j = 0; j < views.size(); ++j)
      end_view(supervisor, definition.name, jobs[j].index, views[j], false, "");
    return std::unexpected(std::move(nvram).error());
  }
  for (DiskJob& job : jobs) job.options.nvram = *nvram;
  json snapshots = json::array();
  for (size_t i = 0; i < jobs.size(); ++i) {
    DiskJob& job = jobs[i];
    auto done = running ? back_up_running(supervisor, *repository, definition.name, job, views[i])
                        : back_up_stopped(*repository, job);
    if (!done) {
      for (size_t j = i + 1; j < views.size(); ++j)  // not backed up: their bits go back
        end_view(supervisor, definition.name, jobs[j].index, views[j], false, "");
      return std::unexpected(
          std::move(done).error().with_context(fmt::format("disk {}", job.index)));
    }
    log::info("{}: disk {} backed up as snapshot {} ({}, {} MiB read)", definition.name, job.index,
              (*done)["id"].get<std::string>(),
              (*done)["incremental"].get<bool>() ? "incremental" : "full",
              (*done)["read_bytes"].get<uint64_t>() >> 20);
    snapshots.push_back(std::move(*done));
  }
  return json{{"vm", definition.name}, {"repo", options.repo}, {"snapshots", snapshots}};
}

}  // namespace haven::daemon
