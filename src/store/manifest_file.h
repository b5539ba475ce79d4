#pragma once

// How a snapshot's manifest lies in its file, snapshots/<id>. In an encrypted repository every
// blob is sealed and bound to the snapshot's id, so a file or piece cannot be passed off as
// another snapshot's; in any repository the head names its id and holds the ids' SHA-256.
//   version 1 repositories: one blob (kind manifest) holding encode_manifest().
//   version 2 repositories: the frame magic "HVNMANI2", the head blob's length (4 bytes,
//     little-endian), the head blob (kind manifest: encode_manifest_head()), then the ids
//     blob (kind chunk_list: the chunk_count() ids, 32 bytes each).
// Version 2 lets the head be read alone: a few KiB instead of 32 bytes per chunk, which is
// what makes listing snapshots and starting an instant restore cost the same for any disk
// size. A version-1 repository's reader takes either layout (the file's first bytes say
// which); a version-2 repository holds only the framed one. Parsing treats the bytes as
// hostile (tests/fuzz/store_manifest_fuzz.cc).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/blob.h"
#include "store/manifest.h"

namespace haven::store {

// The frame of a version-2 file: magic and the head blob's length.
inline constexpr size_t kManifestFrameBytes = 12;

// The file's bytes for `snapshot` in the layout of repository format `version` (1 or 2).
Result<std::vector<uint8_t>> encode_manifest_file(const BlobCodec& codec, const Snapshot& snapshot,
                                                  int version);

// How many bytes from the file's start hold its head, given its first kManifestFrameBytes
// (fewer when the file is shorter) and its size: the frame and head blob for version 2, the
// whole file for version 1. Fails on a frame that does not fit the file, and on a one-piece
// file in a repository of `version` 2 or later.
Result<uint64_t> manifest_head_extent(std::span<const uint8_t> start, uint64_t file_size,
                                      int version);

// The head from the file's first manifest_head_extent() bytes. A repository of `version` 2
// or later holds only the framed layout: a one-piece file there is refused (reading it would
// cost what the head saves).
Result<SnapshotHead> decode_manifest_file_head(const BlobCodec& codec, const std::string& id,
                                               std::span<const uint8_t> head_bytes, int version);

// The whole snapshot from the whole file.
Result<Snapshot> decode_manifest_file(const BlobCodec& codec, const std::string& id,
                                      std::span<const uint8_t> bytes, int version);

}  // namespace haven::store
