#pragma once

// The dirty bitmap of a disk image, persisted beside it (IMAGE.cbt) so that it survives VM
// restarts, and refused after a crash. A VMM that opens the disk marks the file "in use"
// (synced) before the guest writes anything, and writes the bits back with "in use" cleared
// when it closes cleanly; a file still "in use" when the next VMM opens it means a VMM died
// with bits only in its memory, so the bitmap is invalid: the next backup reads the whole
// disk (never a silently incomplete backup) and makes it valid again.
//
// Layout (little-endian): "HAVENCBT", u32 version, u32 flags (1 in use, 2 valid),
// u32 granularity, u32 reserved, u64 disk bytes, u64 word count, 64-byte baseline (what the
// bits are relative to: the backup that last reset them, NUL-padded), the words, and an
// FNV-1a-64 checksum of everything before it. Written atomically (temporary file + rename).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace haven::block {

struct TrackingState {
  uint32_t granularity = 0;
  uint64_t disk_bytes = 0;
  // The bits cover every change since `baseline`. When false, they mean nothing.
  bool valid = false;
  std::string baseline;  // at most 63 bytes
  std::vector<uint64_t> words;
};

// "IMAGE.cbt".
std::string tracking_path(const std::string& image);

// For a VMM opening a disk to write: the saved state, or an invalid one (no file yet, an
// unreadable or corrupt one, another disk size or granularity, or a VMM that did not close
// it); the file is then marked in use, synced.
Result<TrackingState> open_tracking(const std::string& path, uint64_t disk_bytes,
                                    uint32_t granularity);
// A clean close: `state` saved, not in use.
Result<void> close_tracking(const std::string& path, const TrackingState& state);
// Whether `image` was modified after its bitmap file was last written: written with tracking
// off, restored over, edited offline. The bits then miss writes and must not be trusted.
// (A VMM writes the bitmap after the image's last write, and so does a backup's reset.)
bool image_newer_than_tracking(const std::string& image, const std::string& path);
// For a disk opened for writing without tracking: removes IMAGE.cbt, whose bits would miss
// every write from now on.
void drop_tracking(const std::string& image);
// For a backup of a stopped guest: the state as saved (nullopt: no file). A file still in
// use reads as invalid.
Result<std::optional<TrackingState>> read_tracking(const std::string& path);

// The same file format for other per-block bitmaps kept beside an image (hydrating_image.h
// keeps which blocks an instant restore has fetched): written as not in use, read back as
// saved (nullopt: no file).
Result<void> save_bitmap_file(const std::string& path, const TrackingState& state);
Result<std::optional<TrackingState>> load_bitmap_file(const std::string& path);

}  // namespace haven::block
