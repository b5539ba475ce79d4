#include "vmm/restoring_disk.h"

#include <cstdlib>
#include <cstring>

#include "base/log.h"
#include "store/key_handoff.h"
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

}  // namespace

Result<std::unique_ptr<block::HydratingImage>> open_restoring_disk(const DiskConfig& disk) {
  if (block::HydratingImage::is_complete(disk.path)) return nullptr;
  std::shared_ptr<store::Repository> repository =
      TRY(with_context(open_repository(disk.restore_repo), "restore from {}", disk.restore_repo));
  auto snapshot = std::make_shared<const store::Snapshot>(TRY(with_context(
      repository->find_snapshot(disk.restore_snapshot), "restore from {}", disk.restore_repo)));
  block::HydratingImage::Options options;
  options.image = disk.path;
  options.disk_bytes = snapshot->size;
  options.granularity = snapshot->chunk_size;
  options.source = repository->config().id + "/" + snapshot->id;
  options.persistent = disk.hydrate;
  options.fill_paused = disk.fill_paused;
  auto fetch = [repository, snapshot](uint64_t index, std::span<uint8_t> data) -> Result<void> {
    if (index >= snapshot->chunks.size()) return make_error("chunk {} is past the snapshot", index);
    const store::ChunkId& id = snapshot->chunks[index];
    if (store::Snapshot::is_hole(id)) {
      std::memset(data.data(), 0, data.size());
      return {};
    }
    return with_context(repository->read_chunk_into(id, data), "chunk {} of snapshot {}", index,
                        snapshot->id);
  };
  auto image = TRY(block::HydratingImage::open(options, std::move(fetch)));
  log::info("{}: restoring from snapshot {} of {} ({} MiB, {} of {} chunks present)", disk.path,
            snapshot->id, disk.restore_repo, snapshot->size >> 20, image->progress().present_blocks,
            image->progress().total_blocks);
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
