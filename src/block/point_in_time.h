#pragma once

// A point-in-time view of a disk a running guest keeps writing, for a backup: copy-before-
// write shared between two processes. The VMM, before it lets the guest's first write touch
// a block the backup still wants, copies the block's old data aside; the backup reads each
// block from the disk itself and, when the VMM got there first, from the copy. The guest is
// never held up by the backup (only by a block's copy), and only blocks the backup wants
// are ever copied.
//
// Two files hold the view: STATE, one byte per block, mapped shared by both processes, and
// DATA, sparse, the copied blocks at their disk offsets. A block's byte goes
//   wanted (1) -> copying (2) -> copied (3), moved by the VMM, or
//   wanted (1) -> done (0), moved by the backup once it read the block whole from the disk.
// The backup reads the disk first and then claims the block: if the claim succeeds, no
// write can have reached the block before the read ended (the VMM moves the byte before it
// submits the write); if it fails, the VMM copied the block first, and the copy is read.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/error.h"
#include "base/mapping.h"
#include "base/unique_fd.h"

namespace haven::block {

enum class BlockView : uint8_t { done = 0, wanted = 1, copying = 2, copied = 3 };

// The VMM's side.
class CopyBeforeWrite {
 public:
  // Creates STATE and DATA (replacing old ones) for a disk of `disk_bytes` read through
  // `image_fd` (not owned; it must allow pread): the blocks `wanted` marks (block i is bit
  // i % 64 of word i / 64), or every block when `wanted` is empty.
  static Result<std::unique_ptr<CopyBeforeWrite>> create(const std::string& state_path,
                                                         const std::string& data_path, int image_fd,
                                                         uint64_t disk_bytes, uint32_t granularity,
                                                         std::span<const uint64_t> wanted);
  // Before a write, discard or write-zeroes to [offset, offset + length) is submitted:
  // copies aside every wanted block it touches. On failure every wanted block it touches is
  // marked failed (the backup then fails when it reads one) and the write may go ahead.
  Result<void> before_write(uint64_t offset, uint64_t length);
  // Whether a write to [offset, offset + length) needs no copy: no block it touches is
  // wanted or being copied. Never blocks.
  bool settled(uint64_t offset, uint64_t length) const;
  uint64_t copied_blocks() const { return m_copied.load(std::memory_order_relaxed); }

  CopyBeforeWrite(Mapping states, UniqueFd data, int image_fd, uint64_t disk_bytes,
                  uint32_t granularity);

 private:
  Mapping m_states;
  UniqueFd m_data;
  int m_image_fd;
  uint64_t m_disk_bytes;
  uint32_t m_granularity;
  std::atomic<uint64_t> m_copied{0};  // read from other threads (counters)
  std::unique_ptr<uint8_t[]> m_buffer;
};

// The backup's side. read() may be called from several threads at once.
class PointInTimeReader {
 public:
  static Result<std::unique_ptr<PointInTimeReader>> open(const std::string& state_path,
                                                         const std::string& data_path,
                                                         const std::string& image_path,
                                                         uint64_t disk_bytes, uint32_t granularity);
  // Whether any block [offset, offset + length) touches is still wanted by this backup.
  bool wanted(uint64_t offset, uint64_t length) const;
  // Reads [offset, offset + out.size()) as it was when the view was taken. Every block it
  // touches must be wanted (or have been read by this reader before).
  Result<void> read(uint64_t offset, std::span<uint8_t> out);

  PointInTimeReader(Mapping states, UniqueFd data, UniqueFd image, std::string image_path,
                    uint64_t disk_bytes, uint32_t granularity);

 private:
  Mapping m_states;
  UniqueFd m_data, m_image;
  std::string m_image_path;
  uint64_t m_disk_bytes;
  uint32_t m_granularity;
};

}  // namespace haven::block
