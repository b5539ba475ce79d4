#include "store/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
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

}  // namespace

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
  auto fd = TRY(sys::open(options.source, O_RDONLY | O_CLOEXEC));
  uint64_t size = TRY(sys::image_size(fd.get(), options.source));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat {}", options.source);
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
  snapshot.chunks.resize(count);

  ChunkWriter writer(repository);
  BlobCodec codec = repository.codec();
  std::atomic<uint64_t> done = 0, new_bytes = 0, stored_bytes = 0, read_bytes = 0;
  const Snapshot* parent = options.parent;
  if (parent && (!options.changed || parent->size != size || parent->chunk_size != chunk_size ||
                 parent->chunks.size() != count))
    parent = nullptr;  // tracking that does not line up with this disk: read it all
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
