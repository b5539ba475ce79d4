#include "store/restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "base/atomic_file.h"
#include "base/sys.h"

namespace haven::store {
namespace {

// Restore works in segments of whole chunks: a worker decodes a segment into one buffer and
// writes each run of data in it with one write. Big writes through O_DIRECT skip the page
// cache copy, which costs more than decrypting and decompressing on these machines, and the
// final fsync has little left to do. Holes end a run in a file (it stays sparse) and are
// written as zeros on a device.
constexpr uint64_t kSegmentBytes = 4 << 20;
constexpr uint64_t kDirectAlign = 4096;

struct AlignedFree {
  void operator()(uint8_t* memory) const { std::free(memory); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, AlignedFree>;

// One segment-sized, direct-I/O-aligned buffer per worker thread, grown when needed.
std::span<uint8_t> thread_segment_buffer(uint64_t bytes) {
  thread_local AlignedBuffer buffer;
  thread_local uint64_t capacity = 0;
  if (capacity < bytes) {
    buffer.reset(static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, bytes)));
    capacity = buffer ? bytes : 0;
  }
  return {buffer.get(), buffer ? bytes : 0};
}

// Where a restore writes: the buffered descriptor always works; the O_DIRECT one is used for
// the aligned part of each run while the file system accepts it.
struct Target {
  std::string path;
  UniqueFd buffered;
  UniqueFd direct;
  std::atomic<bool> direct_works = false;

  Result<void> write(std::span<const uint8_t> data, uint64_t offset) {
    uint64_t aligned = data.size() & ~(kDirectAlign - 1);
    if (aligned && direct_works.load(std::memory_order_relaxed)) {
      auto written = sys::write_at(direct.get(), data.first(aligned), offset);
      if (written) {
        data = data.subspan(aligned);
        offset += aligned;
      } else {
        // Some file systems refuse direct I/O only when it is tried; the buffered path stays.
        direct_works = false;
      }
    }
    if (data.empty()) return {};
    return with_context(sys::write_at(buffered.get(), data, offset), "{}", path);
  }
};

}  // namespace

Result<void> restore_snapshot(const Repository& repository, const Snapshot& snapshot,
                              const RestoreOptions& options) {
  auto st = sys::stat_path(options.target);
  bool exists = st.has_value();
  bool device = exists && S_ISBLK(st->st_mode);
  if (exists && !device && !options.overwrite)
    return make_error("{} exists (restore to a new path, or allow overwriting it)", options.target);
  Target target;
  target.path = device ? options.target : options.target + ".partial";
  const std::string& writing = target.path;
  if (device) {
    target.buffered = TRY(sys::open(writing, O_WRONLY | O_CLOEXEC));
    uint64_t bytes = TRY(sys::image_size(target.buffered.get(), writing));
    if (bytes < snapshot.size)
      return make_error("{} holds {} bytes, the snapshot {}", writing, bytes, snapshot.size);
  } else {
    target.buffered = TRY(sys::open(writing, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    TRY(sys::resize(target.buffered.get(), snapshot.size, writing));
  }
  if (auto direct = sys::open(writing, O_WRONLY | O_DIRECT | O_CLOEXEC); direct) {
    target.direct = std::move(*direct);
    target.direct_works = true;
  }

  const uint64_t chunk_size = snapshot.chunk_size;
  const uint64_t chunks_per_segment = std::max<uint64_t>(1, kSegmentBytes / chunk_size);
  const uint64_t segments = (snapshot.chunks.size() + chunks_per_segment - 1) / chunks_per_segment;
  std::atomic<uint64_t> done = 0;
  auto work = [&](uint64_t segment) -> Result<void> {
    uint64_t first = segment * chunks_per_segment;
    uint64_t last = std::min<uint64_t>(first + chunks_per_segment, snapshot.chunks.size());
    uint64_t base = first * chunk_size;
    uint64_t end = std::min<uint64_t>(last * chunk_size, snapshot.size);
    auto buffer = thread_segment_buffer(chunks_per_segment * chunk_size);
    if (buffer.empty()) return make_error("no memory for a {} byte restore buffer", kSegmentBytes);
    uint64_t run_start = base;  // the unwritten data before the current chunk starts here
    auto flush = [&](uint64_t run_end) -> Result<void> {
      if (run_end > run_start)
        TRY(target.write(buffer.subspan(run_start - base, run_end - run_start), run_start));
      return {};
    };
    for (uint64_t i = first; i < last; ++i) {
      uint64_t offset = i * chunk_size;
      uint64_t length = std::min<uint64_t>(chunk_size, snapshot.size - offset);
      auto into = buffer.subspan(offset - base, length);
      const ChunkId& id = snapshot.chunks[i];
      if (Snapshot::is_hole(id)) {
        if (device) {
          std::memset(into.data(), 0, into.size());
        } else {
          TRY(flush(offset));
          run_start = offset + length;
        }
        continue;
      }
      TRY(with_context(repository.read_chunk_into(id, into), "offset {}", offset));
    }
    TRY(flush(end));
    done += end - base;
    return {};
  };
  auto report = [&] {
    if (options.progress) options.progress({done, snapshot.size, 0, 0});
  };
  auto restored = run_parallel(segments, options.threads, work, report);
  if (!restored) {
    if (!device) (void)sys::remove_file(writing, true);  // best effort: the error below says more
    return std::unexpected(std::move(restored).error().with_context(
        fmt::format("restore snapshot {} to {}", snapshot.id, options.target)));
  }
  TRY(sys::sync_all(target.buffered.get(), writing));
  if (!device) {
    TRY(sys::rename(writing, options.target));
    TRY(fsync_parent_directory(options.target));
  }
  return {};
}

}  // namespace haven::store
