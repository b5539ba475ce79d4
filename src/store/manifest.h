#pragma once

// A snapshot's manifest: what was backed up (name, source, size, time, tags) and, for every
// chunk-sized piece of the disk in order, the id of its chunk — or the all-zero id for a
// piece that is all zeros (stored as nothing, restored as a hole). The metadata alone is the
// snapshot's head: what listing snapshots and starting an instant restore need, a few KiB
// however large the disk (the ids are 32 bytes a chunk: 8 MiB for 16 GiB).
//
// Two encodings, both parsed as hostile bytes (tests/fuzz/store_manifest_fuzz.cc):
//   version 1 (one blob): a magic, a JSON header and the raw ids (encode_manifest);
//   version 2: the head — a magic and the same JSON header (encode_manifest_head) — and the raw
//   ids, sealed as two blobs, so that the head is read without the ids (store/manifest_file.h).
// A UEFI guest's variable store rides in the header as {"bytes": N, "zstd": BASE64}: some
// hundred KiB of mostly erased flash that compresses to a few KiB, and a field older readers
// skip, so repositories keep their format version.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/chunk_id.h"

namespace haven::store {

// A regular file as a backup found it before reading it. A later backup of the same name that
// finds the file with the same device, inode, size, modification and change times takes the
// snapshot's chunk ids without reading it (as restic does; `--force-read` reads anyway) —
// unless it changed just before `seen_ns` (store/backup.h, unchanged_since).
struct SourceFile {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // since the epoch
  int64_t ctime_ns = 0;
  int64_t seen_ns = 0;  // when the backup looked (the system clock)

  // The same file, unchanged (seen_ns aside).
  bool same_file(const SourceFile& other) const {
    return device == other.device && inode == other.inode && size == other.size &&
           mtime_ns == other.mtime_ns && ctime_ns == other.ctime_ns;
  }
};

struct SnapshotHead {
  std::string id;  // 16 hex digits
  std::string name;
  std::string source;
  int64_t time = 0;  // seconds since the epoch (UTC)
  std::vector<std::string> tags;
  uint64_t size = 0;  // bytes of the disk
  uint32_t chunk_size = 0;
  uint64_t zero_chunks = 0;  // of the chunk ids, how many are holes (counted when encoded)
  // Statistics of the backup that made it (informative only).
  uint64_t new_bytes = 0;     // chunk bytes that were not in the repository yet
  uint64_t stored_bytes = 0;  // what those took in packs (compressed, sealed)
  // A guest's disk (haven backup create --vm): the guest's VM config as JSON, and which of
  // its disks this is; empty and -1 for a plain image.
  std::string vm;
  int64_t disk = -1;
  // A UEFI guest's variable store (its boot entries) when the disk was backed up; empty for
  // any other guest or image.
  std::vector<uint8_t> nvram;
  // A regular file's identity when it was backed up; absent for devices and guests' disks.
  std::optional<SourceFile> source_file;
  // The snapshot this one took its chunk ids from unread (the file was unchanged), or "".
  std::string parent;
  // Version 2: SHA-256 of the chunk ids as stored, checked when they are read (what finds a
  // damaged ids blob in an unencrypted repository, where nothing is sealed); zero in version 1.
  ChunkId ids_sha256;

  // ceil(size / chunk_size): how many ids the manifest holds.
  uint64_t chunk_count() const {
    return chunk_size == 0 ? 0 : size / chunk_size + (size % chunk_size != 0);
  }
};

struct Snapshot : SnapshotHead {
  std::vector<ChunkId> chunks;  // chunk_count() ids; zero id = a hole

  static bool is_hole(const ChunkId& id) { return id == ChunkId{}; }
  uint64_t count_holes() const;
};

// The largest variable store a manifest may carry (OVMF's are 128 KiB to 4 MiB).
inline constexpr size_t kMaxManifestNvram = 16 << 20;
// The most chunk ids a manifest may list: 960 MiB of ids (1.875 TiB of disk at 64 KiB
// chunks), so that a whole manifest, head and sealing included, stays under the 1 GiB a
// repository reads of one (as older Haven did too).
inline constexpr uint64_t kMaxManifestChunks = uint64_t{30} << 20;
// What a manifest read may list: as many as older Haven could read back within its 1 GiB.
inline constexpr uint64_t kMaxReadableManifestChunks = uint64_t{1} << 25;

// Version 1: the whole manifest in one piece.
std::vector<uint8_t> encode_manifest(const Snapshot& snapshot);
Result<Snapshot> decode_manifest(std::span<const uint8_t> bytes);

// Version 2's head: the metadata and the number of ids that follow it (checked against the
// size and chunk size).
std::vector<uint8_t> encode_manifest_head(const SnapshotHead& head);
Result<SnapshotHead> decode_manifest_head(std::span<const uint8_t> bytes);

}  // namespace haven::store
