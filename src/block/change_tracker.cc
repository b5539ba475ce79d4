#include "block/change_tracker.h"

#include <algorithm>

#include "base/log.h"

namespace haven::block {

Result<std::unique_ptr<ChangeTracker>> ChangeTracker::open(const std::string& image,
                                                           uint64_t disk_bytes) {
  std::string path = tracking_path(image);
  bool stale = image_newer_than_tracking(image, path);  // before open_tracking rewrites it
  auto state = TRY(with_context(open_tracking(path, disk_bytes, DirtyBitmap::kDefaultGranularity),
                                "changed-block tracking"));
  if (stale && state.valid) {
    log::info("{} changed after {} was saved: its bits miss writes", image, path);
    state.valid = false;
    std::fill(state.words.begin(), state.words.end(), 0);
  }
  if (!state.valid)
    log::info("{}: changed-block tracking starts afresh (the next backup reads the whole disk)",
              image);
  return std::make_unique<ChangeTracker>(std::move(path), disk_bytes, std::move(state));
}

ChangeTracker::ChangeTracker(std::string path, uint64_t disk_bytes, TrackingState state)
    : m_path(std::move(path)),
      m_bitmap(disk_bytes),
      m_valid(state.valid),
      m_baseline(std::move(state.baseline)) {
  m_bitmap.merge(state.words);
}

std::vector<uint64_t> ChangeTracker::begin_backup() {
  if (!m_pending.empty()) m_bitmap.merge(m_pending);  // an earlier one never ended
  m_pending = m_bitmap.take();
  return m_pending;
}

void ChangeTracker::end_backup(bool committed, const std::string& baseline) {
  if (committed) {
    m_valid = true;
    m_baseline = baseline;
  } else {
    m_bitmap.merge(m_pending);
  }
  m_pending.clear();
}

ChangeTracker::~ChangeTracker() {
  if (!m_pending.empty()) m_bitmap.merge(m_pending);  // a backup that never ended
  TrackingState state;
  state.granularity = m_bitmap.granularity();
  state.disk_bytes = m_bitmap.disk_bytes();
  state.valid = m_valid;
  state.baseline = m_baseline;
  state.words = m_bitmap.words();
  if (auto closed = close_tracking(m_path, state); !closed)
    log::error("{}: {} (it stays marked in use: the next backup reads the whole disk)", m_path,
               closed.error().message());
}

}  // namespace haven::block
