#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "block/bitmap_file.h"
#include "block/dirty_bitmap.h"

namespace haven::block {

// Changed-block tracking of one disk image while a VMM has it open: the dirty bitmap in
// memory, loaded from IMAGE.cbt (or invalid, see bitmap_file.h) and written back, not in use,
// when the tracker is destroyed. Writes mark it from the device's I/O thread.
class ChangeTracker {
 public:
  static Result<std::unique_ptr<ChangeTracker>> open(const std::string& image, uint64_t disk_bytes);
  ~ChangeTracker();
  ChangeTracker(const ChangeTracker&) = delete;
  ChangeTracker& operator=(const ChangeTracker&) = delete;

  void mark(uint64_t offset, uint64_t length) { m_bitmap.mark(offset, length); }
  const DirtyBitmap& bitmap() const { return m_bitmap; }
  // The bits mean something (they cover every change since the baseline).
  bool valid() const { return m_valid; }
  const std::string& path() const { return m_path; }
  const std::string& baseline() const { return m_baseline; }

  // A backup begins: the bits so far become pending (and are returned); new writes mark
  // afresh. At most one backup at a time.
  std::vector<uint64_t> begin_backup();
  // It ended. Committed as `baseline`: the pending bits are dropped and the bitmap is valid
  // relative to `baseline`. Not committed: the pending bits are merged back.
  void end_backup(bool committed, const std::string& baseline);
  bool backup_pending() const { return !m_pending.empty(); }

  ChangeTracker(std::string path, uint64_t disk_bytes, TrackingState state);

 private:
  std::string m_path;
  DirtyBitmap m_bitmap;
  bool m_valid;
  std::string m_baseline;
  std::vector<uint64_t> m_pending;  // taken by a backup that has not ended
};

}  // namespace haven::block
