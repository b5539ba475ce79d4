#pragma once

// A snapshot's manifest: what was backed up (name, source, size, time, tags) and, for every
// chunk-sized piece of the disk in order, the id of its chunk — or the all-zero id for a
// piece that is all zeros (stored as nothing, restored as a hole). Encoded as a magic, a JSON
// header and the raw ids; parsing treats the bytes as hostile (tests/fuzz/store_manifest_fuzz.cc).
// A UEFI guest's variable store rides in the header as {"bytes": N, "zstd": BASE64}: some
// hundred KiB of mostly erased flash that compresses to a few KiB, and a field older readers
// skip, so repositories keep their format version.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/chunk_id.h"

namespace haven::store {

struct Snapshot {
  std::string id;  // 16 hex digits
  std::string name;
  std::string source;
  int64_t time = 0;  // seconds since the epoch (UTC)
  std::vector<std::string> tags;
  uint64_t size = 0;  // bytes of the disk
  uint32_t chunk_size = 0;
  std::vector<ChunkId> chunks;  // ceil(size / chunk_size) ids; zero id = a hole
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

  static bool is_hole(const ChunkId& id) { return id == ChunkId{}; }
};

// The largest variable store a manifest may carry (OVMF's are 128 KiB to 4 MiB).
inline constexpr size_t kMaxManifestNvram = 16 << 20;

std::vector<uint8_t> encode_manifest(const Snapshot& snapshot);
Result<Snapshot> decode_manifest(std::span<const uint8_t> bytes);

}  // namespace haven::store
