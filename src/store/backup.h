#pragma once

// Backing up a disk image or block device into a repository: the disk is cut into
// repository-sized chunks at fixed offsets; holes (SEEK_HOLE) and all-zero chunks cost
// nothing; every other chunk is hashed, and only chunks the repository lacks are compressed,
// sealed and written. Worker threads (one more than cores) each take the next chunk, so reading,
// hashing and compressing keep every core busy. The snapshot is written last, after its
// data and index are durable.

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/manifest.h"
#include "store/repository.h"

namespace haven::store {

struct Progress {
  uint64_t done_bytes = 0;
  uint64_t total_bytes = 0;
  uint64_t new_bytes = 0;     // chunk bytes the repository did not have
  uint64_t stored_bytes = 0;  // what they took after compression and sealing
  uint64_t read_bytes = 0;    // read from the source (holes and unchanged chunks are not)
};

struct BackupOptions {
  std::string source;
  std::string name;
  std::vector<std::string> tags;
  unsigned threads = 0;  // 0: one more than cores
  // Called from the calling thread about five times a second, and once at the end.
  std::function<void(const Progress&)> progress;
  // Changed-block tracking: a chunk none of whose bytes `changed(offset, length)` reports is
  // taken from `parent` without being read. The caller vouches that `changed` covers every
  // write to the source since `parent` was taken. Ignored unless `parent` has the source's
  // size and the repository's chunk size.
  const Snapshot* parent = nullptr;
  std::function<bool(uint64_t offset, uint64_t length)> changed = {};
  // Reads the source instead of the file (a point-in-time view of a running guest's disk,
  // block/point_in_time.h); every chunk it is asked for is read once. The file then gives
  // only the size: its holes are not trusted, since they may be newer than the view.
  std::function<Result<void>(uint64_t offset, std::span<uint8_t> data)> read = {};
  // In a version-2 repository, without a changed-block `parent`: a regular file unchanged since
  // the last snapshot of the same name (unchanged_since) is not read, the new snapshot takes
  // that one's chunk ids. True reads it anyway.
  bool force_read = false;
  std::string vm = {};  // Snapshot::vm, disk and nvram, for a guest's disk
  int64_t disk = -1;
  std::vector<uint8_t> nvram = {};
};

// A write this close before a backup looks at a file may share its timestamp tick (1 s on
// some file systems, 2 s on FAT, from a clock that lags a jiffy) with a later write, which
// then leaves the file's times as they were.
inline constexpr int64_t kRacyNs = 3'000'000'000;

// Whether a file a snapshot recorded as `then` is still as it was when a backup finds it as
// `now`: the same device, inode, size, modification and change time, both older by kRacyNs
// than `then.seen_ns`. (Writing and setting the times back, as `cp -p` or `touch -d` do,
// changes the change time, which nothing sets back.) Like restic's, the rule trusts the
// kernel's timestamps: a write() still copying when a backup looks (its times set when it
// began), writes through a shared mapping to pages already dirty, and data a crash left
// under old times on a `lazytime` mount are not seen; `--force-read` reads anyway.
bool unchanged_since(const SourceFile& then, const SourceFile& now);

// Takes the writer lock for the whole backup.
Result<Snapshot> backup_image(Repository& repository, const BackupOptions& options);

// Runs `work(i)` for i in [0, count) on `threads` threads (0: one more than cores), reporting
// `progress()` every 200 ms from the calling thread; stops at the first error and returns it.
// Shared by backup, restore and verify.
Result<void> run_parallel(uint64_t count, unsigned threads,
                          const std::function<Result<void>(uint64_t)>& work,
                          const std::function<void()>& progress);

}  // namespace haven::store
