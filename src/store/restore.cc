#include "store/restore.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/atomic_file.h"
#include "base/sys.h"

namespace haven::store {
Result<void> restore_snapshot(const Repository& repository, const Snapshot& snapshot,
                              const RestoreOptions& options) {
  struct stat st {};
  bool exists = ::stat(options.target.c_str(), &st) == 0;
  bool device = exists && S_ISBLK(st.st_mode);
  if (exists && !device && !options.overwrite)
    return make_error("{} exists (restore to a new path, or allow overwriting it)", options.target);
  std::string writing = device ? options.target : options.target + ".partial";
  UniqueFd fd;
  if (device) {
    fd = TRY(sys::open(writing, O_WRONLY | O_CLOEXEC));
    uint64_t bytes = 0;
    if (::ioctl(fd.get(), BLKGETSIZE64, &bytes) != 0)
      return errno_error("BLKGETSIZE64 {}", writing);
    if (bytes < snapshot.size)
      return make_error("{} holds {} bytes, the snapshot {}", writing, bytes, snapshot.size);
  } else {
    fd = TRY(sys::open(writing, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (::ftruncate(fd.get(), static_cast<off_t>(snapshot.size)) != 0)
      return errno_error("size {} to {} bytes", writing, snapshot.size);
  }
  std::atomic<uint64_t> done = 0;
  const std::vector<uint8_t> zeros(device ? snapshot.chunk_size : 0);
  auto work = [&](uint64_t i) -> Result<void> {
    uint64_t offset = i * snapshot.chunk_size;
    uint64_t length = std::min<uint64_t>(snapshot.chunk_size, snapshot.size - offset);
    const ChunkId& id = snapshot.chunks[i];
    if (Snapshot::is_hole(id)) {
      if (device)
        TRY(with_context(sys::write_at(fd.get(), std::span(zeros).first(length), offset), "{}",
                         writing));
    } else {
      auto data = TRY(with_context(repository.read_chunk(id), "offset {}", offset));
      if (data.size() != length)
        return make_error("offset {}: chunk {} holds {} bytes, expected {}", offset,
                          id.hex().substr(0, 16), data.size(), length);
      TRY(with_context(sys::write_at(fd.get(), data, offset), "{}", writing));
    }
    done += length;
    return {};
  };
  auto report = [&] {
    if (options.progress) options.progress({done, snapshot.size, 0, 0});
  };
  auto restored = run_parallel(snapshot.chunks.size(), options.threads, work, report);
  if (!restored) {
    if (!device) ::unlink(writing.c_str());
    return std::unexpected(std::move(restored).error().with_context(
        fmt::format("restore snapshot {} to {}", snapshot.id, options.target)));
  }
  if (::fsync(fd.get()) != 0) return errno_error("fsync {}", writing);
  if (!device) {
    if (::rename(writing.c_str(), options.target.c_str()) != 0)
      return errno_error("rename {} to {}", writing, options.target);
    TRY(fsync_parent_directory(options.target));
  }
  return {};
}

}  // namespace haven::store
