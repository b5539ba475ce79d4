#include "vmm/restoring_disk.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <optional>

#include "base/log.h"
#include "base/mutex.h"
#include "base/sys.h"
#include "store/key_handoff.h"
#include "store/repo_config.h"
#include "store/repository.h"

namespace haven::vmm {

namespace {

// Keys havend or `haven backup verify --boot` unlocked and handed over (read once).
const std::optional<store::KeyHandoff>& handed_keys() {
  static const std::optional<store::KeyHandoff> keys = [] {
    auto inherited = store::inherited_key_handoff();
    if (!inherited) {
      log::warn("{}", inherited.error().message());
      return std::optional<store::KeyHandoff>();
    }
    return std::move(*inherited);
  }();
  return keys;
}

Result<std::unique_ptr<store::Repository>> open_repository(const std::string& path) {
  if (const auto& handed = handed_keys(); handed && handed->repository == path)
    return store::Repository::open_unlocked(path, handed->keys);
  return store::Repository::open(path, []() -> Result<std::string> {
    if (const char* value = std::getenv("HAVEN_PASSPHRASE")) return std::string(value);
    return make_error("the repository is encrypted: set HAVEN_PASSPHRASE");
  });
}

// The repository and the snapshot a restoring disk reads, opened once (by the first fetch's
// wait, or at once when nothing is known about the disk yet).
// Rereading the index after a failed read, at most every few seconds (a repository gone
// altogether is not listed again for every block).
struct IndexReload {
  Mutex mutex;
  std::chrono::steady_clock::time_point last HAVEN_GUARDED_BY(mutex){};
};
constexpr auto kReloadInterval = std::chrono::seconds(5);

struct Source {
  std::shared_ptr<store::Repository> repository;
  std::shared_ptr<const store::Snapshot> snapshot;
  std::shared_ptr<IndexReload> reload = std::make_shared<IndexReload>();
};

Result<Source> open_source(const DiskConfig& disk) {
  Source source;
  source.repository =
      TRY(with_context(open_repository(disk.restore_repo), "restore from {}", disk.restore_repo));
  source.snapshot = std::make_shared<const store::Snapshot>(
      TRY(with_context(source.repository->find_snapshot(disk.restore_snapshot), "restore from {}",
                       disk.restore_repo)));
  return source;
}

Result<void> fetch_chunk(const Source& source, uint64_t index, std::span<uint8_t> data) {
  const store::Snapshot& snapshot = *source.snapshot;
  if (index >= snapshot.chunks.size()) return make_error("chunk {} is past the snapshot", index);
  const store::ChunkId& id = snapshot.chunks[index];
  if (store::Snapshot::is_hole(id)) {
    std::memset(data.data(), 0, data.size());
    return {};
  }
  auto read = source.repository->read_chunk_into(id, data);
  if (read) return {};
  // A prune's garbage collection may have moved the chunk into a new pack since the index
  // was read (the snapshot itself is held): catch up with the index files and retry.
  bool reloaded = false;
  {
    MutexLock lock(source.reload->mutex);
    auto now = std::chrono::steady_clock::now();
    if (now - source.reload->last >= kReloadInterval) {
      source.reload->last = now;
      if (auto caught_up = source.repository->reload_index(); caught_up)
        reloaded = true;
      else
        log::warn("{}: {}", source.repository->path(), caught_up.error().message());
    }
  }
  if (reloaded) read = source.repository->read_chunk_into(id, data);
  return with_context(std::move(read), "chunk {} of snapshot {}", index, snapshot.id);
}

// The repository's config.json (no key needed), when it can be read.
std::optional<store::RepoConfig> repository_config(const std::string& path) {
  auto text = sys::read_file(path + "/config.json", 1 << 20);
  if (!text) return std::nullopt;
  auto config = store::repo_config_from_json(
      std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
  if (!config) return std::nullopt;
  return std::move(*config);
}

}  // namespace

Result<std::unique_ptr<block::HydratingImage>> open_restoring_disk(const DiskConfig& disk) {
  if (block::HydratingImage::is_complete(disk.path)) return nullptr;
  block::HydratingImage::Options options;
  options.image = disk.path;
  options.persistent = disk.hydrate;
  options.fill_paused = disk.fill_paused;
  block::HydratingImage::Fetch fetch;
  // havend made the image and its state (prepare_backup_restore): the guest can start at once
  // and the repository is opened beside it (its index and the snapshot's chunk list grow with
  // the disk); the first fetch waits for it.
  auto saved = block::HydratingImage::saved_state(disk.path);
  auto config = repository_config(disk.restore_repo);
  // Without its keys the guest would boot and then fail every read: refuse to start instead.
  const auto& handed = handed_keys();
  if (config && config->encrypted && !(handed && handed->repository == disk.restore_repo) &&
      !std::getenv("HAVEN_PASSPHRASE"))
    return make_error(
        "{} is encrypted and no keys were handed over (havend forgets them when it restarts): "
        "set HAVEN_PASSPHRASE, or restore the snapshot again",
        disk.restore_repo);
  if (disk.hydrate && saved && config &&
      saved->baseline == config->id + "/" + disk.restore_snapshot) {
    options.disk_bytes = saved->disk_bytes;
    options.granularity = saved->granularity;
    options.source = saved->baseline;
    std::shared_future<Result<Source>> loading =
        std::async(std::launch::async, [disk, size = saved->disk_bytes]() -> Result<Source> {
          Source source = TRY(open_source(disk));
          if (source.snapshot->size != size)
            return make_error("snapshot {} holds {} bytes, the image {}", source.snapshot->id,
                              source.snapshot->size, size);
          return source;
        }).share();
    fetch = [loading](uint64_t index, std::span<uint8_t> data) -> Result<void> {
      const Result<Source>& source = loading.get();
      if (!source) return std::unexpected(source.error());
      return fetch_chunk(*source, index, data);
    };
  } else {
    Source source = TRY(open_source(disk));
    options.disk_bytes = source.snapshot->size;
    options.granularity = source.snapshot->chunk_size;
    options.source = source.repository->config().id + "/" + source.snapshot->id;
    fetch = [source](uint64_t index, std::span<uint8_t> data) {
      return fetch_chunk(source, index, data);
    };
  }
  auto image = TRY(block::HydratingImage::open(options, std::move(fetch)));
  auto progress = image->progress();
  log::info("{}: restoring from {} in {} ({} MiB, {} of {} chunks present)", disk.path,
            options.source, disk.restore_repo, options.disk_bytes >> 20, progress.present_blocks,
            progress.total_blocks);
  if (disk.hydrate)
    image->start_hydration([path = disk.path](const block::HydrationProgress& done) {
      if (done.complete)
        log::info("{}: restore complete ({} MiB fetched); it is a plain image from now on", path,
                  done.fetched_bytes >> 20);
      else if (done.total_blocks > done.present_blocks)
        log::error("{}: restore incomplete: {} of {} chunks could not be fetched", path,
                   done.failed_blocks, done.total_blocks);
    });
  return image;
}

}  // namespace haven::vmm
