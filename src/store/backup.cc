#include "store/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <limits>
#include <mutex>
#include <thread>

#include "base/file_extents.h"
#include "base/sys.h"

namespace haven::store {
namespace {

bool intersects(const std::vector<Extent>& extents, uint64_t start, uint64_t end) {
  auto after = std::upper_bound(extents.begin(), extents.end(), start,
                                [](uint64_t value, const Extent& e) { return value < e.end; });
  return after != extents.end() && after->start < end;
}

// Nanoseconds since the epoch, saturated (a time past 2262 or before 1678 is clamped).
int64_t nanoseconds(const timespec& t) {
  int64_t ns;
  if (__builtin_mul_overflow(int64_t{t.tv_sec}, int64_t{1'000'000'000}, &ns) ||
      __builtin_add_overflow(ns, int64_t{t.tv_nsec}, &ns))
    return t.tv_sec < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  return ns;
}

// `looked`: the clock read before the stat, so that no delay counts as margin.
SourceFile source_file(const struct stat& st, const timespec& looked) {
  return {.device = st.st_dev,
          .inode = st.st_ino,
          .size = static_cast<uint64_t>(st.st_size),
          .mtime_ns = nanoseconds(st.st_mtim),
          .ctime_ns = nanoseconds(st.st_ctim),
          .seen_ns = nanoseconds(looked)};
}

// The newest snapshot of `name` that saw `file` as it is now, early enough that no write since
// can hide, whose chunks the repository still has; nullopt when there is none.
Result<std::optional<Snapshot>> unchanged_parent(Repository& repository, const std::string& name,
                                                 const SourceFile& file) {
  std::vector<std::string> unreadable;  // not a reason to fail the backup: it reads the file
  auto heads = TRY(repository.list_snapshot_heads(&unreadable));
  for (auto head = heads.rbegin(); head != heads.rend(); ++head) {
    const auto& seen = head->source_file;
    if (head->name != name || !seen || !unchanged_since(*seen, file) || head->size != file.size ||
        head->chunk_size != repository.config().chunk_size)
      continue;
    auto parent = repository.read_snapshot(head->id);
    if (!parent) continue;
    if (repository.holds_all_healthy(parent->chunks))
      return std::optional<Snapshot>(std::move(*parent));
  }
  return std::optional<Snapshot>();
}

}  // namespace

bool unchanged_since(const SourceFile& then, const SourceFile& now) {
  int64_t before;  // a hostile head may hold any numbers
  if (__builtin_sub_overflow(then.seen_ns, kRacyNs, &before)) return false;
  return then.same_file(now) && then.mtime_ns <= before && then.ctime_ns <= before;
}

Result<void> run_parallel(uint64_t count, unsigned threads,
                          const std::function<Result<void>(uint64_t)>& work,
                          const std::function<void()>& progress) {
  // One thread more than cores by default: a thread waiting for a read, a write or a pack's
  // fsync leaves its core to the others.
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency()) + 1;
  std::atomic<uint64_t> next = 0;
  std::atomic<bool> failed = false;
  std::mutex mutex;
  std::condition_variable finished;
  unsigned running = threads;
  std::optional<Error> first_error;
  std::vector<std::jthread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (uint64_t i; !failed && (i = next++) < count;) {
        if (auto result = work(i); !result) {
          std::lock_guard lock(mutex);
          if (!first_error) first_error = std::move(result).error();
          failed = true;
        }
      }
      std::lock_guard lock(mutex);
      if (--running == 0) finished.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    while (!finished.wait_for(lock, std::chrono::milliseconds(200), [&] { return running == 0; })) {
      lock.unlock();
      if (progress) progress();
      lock.lock();
    }
  }
  workers.clear();
  if (progress) progress();
  if (first_error) return std::unexpected(std::move(*first_error));
  return {};
}

Result<Snapshot> backup_image(Repository& repository, const BackupOptions& options) {
  auto lock = TRY(repository.lock_for_writing());
  // What other writers did since the repository was opened: new chunks to dedup against, and
  // no chunk garbage collection removed taken for present.
  TRY(repository.reload_index());
  auto fd = TRY(sys::open_data_file(options.source, O_RDONLY | O_CLOEXEC, true));
  uint64_t size = TRY(sys::image_size(fd.get(), options.source));
  timespec looked{};
  ::clock_gettime(CLOCK_REALTIME, &looked);
  struct stat st = TRY(sys::stat_fd(fd.get(), options.source));
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  auto extents = TRY(data_extents(fd.get(), size, S_ISREG(st.st_mode), options.source));

  const uint32_t chunk_size = repository.config().chunk_size;
  Snapshot snapshot;
  snapshot.name = options.name;
  snapshot.source = options.source;
  snapshot.tags = options.tags;
  snapshot.vm = options.vm;
  snapshot.disk = options.disk;
  snapshot.nvram = options.nvram;
  snapshot.size = size;
  snapshot.chunk_size = chunk_size;
  snapshot.time = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  uint64_t count = size / chunk_size + (size % chunk_size != 0);
  if (count > kMaxManifestChunks)  // before reading anything
    return make_error(
        "{}: {} bytes is {} chunks of {} bytes, more than the {} a snapshot may "
        "list (a repository with larger chunks takes larger disks)",
        options.source, size, count, chunk_size, kMaxManifestChunks);
  if (S_ISREG(st.st_mode) && !options.read) {
    snapshot.source_file = source_file(st, looked);
    std::optional<Snapshot> parent;
    // Only where heads are cheap: a version-1 repository's heads are its whole manifests.
    if (!options.force_read && !options.parent && repository.config().version >= 2)
      parent = TRY(unchanged_parent(repository, options.name, *snapshot.source_file));
    if (parent) {  // the file as the parent saw it: nothing to read
      snapshot.chunks = std::move(parent->chunks);
      snapshot.parent = parent->id;
      if (options.progress) options.progress({size, size, 0, 0, 0});
      TRY(repository.write_snapshot(snapshot));
      return snapshot;
    }
  }
  snapshot.chunks.resize(count);

  ChunkWriter writer(repository);
  BlobCodec codec = repository.codec();
  std::atomic<uint64_t> done = 0, new_bytes = 0, stored_bytes = 0, read_bytes = 0;
  const Snapshot* parent = options.parent;
  if (parent && (!options.changed || parent->size != size || parent->chunk_size != chunk_size ||
                 parent->chunks.size() != count))
    parent = nullptr;  // tracking that does not line up with this disk: read it all
  // Chunks taken unread from the parent must be held healthy: one verify found damaged is
  // stored again from the disk. A point-in-time view protects only the blocks it was asked
  // for, so there the caller must not have chosen such a parent (havend does not).
  if (parent && !repository.holds_all_healthy(parent->chunks)) {
    if (options.read)
      return make_error(
          "{}: the parent snapshot {} uses chunks found damaged; the next backup reads the "
          "disk whole",
          options.source, parent->id);
    parent = nullptr;
  }
  auto work = [&](uint64_t i) -> Result<void> {
    uint64_t offset = i * chunk_size;
    uint64_t length = std::min<uint64_t>(chunk_size, size - offset);
    if (parent && !options.changed(offset, length)) {
      snapshot.chunks[i] = parent->chunks[i];  // unchanged since the parent: not read
      done += length;
      return {};
    }
    if (!options.read && !intersects(extents, offset, offset + length)) {
      done += length;
      return {};  // a hole: the zero id
    }
    thread_local std::vector<uint8_t> buffer;
    buffer.resize(length);
    if (options.read)
      TRY(with_context(options.read(offset, buffer), "{}", options.source));
    else
      TRY(with_context(sys::read_at(fd.get(), buffer, offset), "{}", options.source));
    read_bytes += length;
    if (!all_zero(buffer)) {
      ChunkId id = repository.chunk_id(buffer);
      snapshot.chunks[i] = id;
      if (writer.claim(id)) {
        thread_local std::vector<uint8_t> blob;
        TRY(encode_blob_into(codec, BlobKind::chunk, buffer, id.bytes, blob));
        TRY(writer.write(id, blob, static_cast<uint32_t>(length)));
        new_bytes += length;
        stored_bytes += blob.size();
      }
    }
    done += length;
    return {};
  };
  auto report = [&] {
    if (options.progress) options.progress({done, size, new_bytes, stored_bytes, read_bytes});
  };
  TRY(with_context(run_parallel(count, options.threads, work, report), "back up {}",
                   options.source));
  TRY(writer.finish());
  snapshot.new_bytes = new_bytes;
  snapshot.stored_bytes = stored_bytes;
  TRY(repository.write_snapshot(snapshot));
  return snapshot;
}

}  // namespace haven::store
