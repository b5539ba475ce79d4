#pragma once

// Changed-block tracking as a layer of the block stack: every write, discard and write-zeroes
// marks the blocks it touches before its data moves (a mark for a write that then fails costs
// a backup one chunk's read; a write missing from the bitmap would cost it the change).

#include <memory>

#include "block/change_tracker.h"
#include "block/layer.h"

namespace haven::block {

class TrackingLayer final : public Layer {
 public:
  explicit TrackingLayer(std::unique_ptr<ChangeTracker> tracker) : m_tracker(std::move(tracker)) {}

  ChangeTracker& tracker() { return *m_tracker; }
  const ChangeTracker& tracker() const { return *m_tracker; }

  bool admit(const Io& io) override {
    if (io.writes()) m_tracker->mark(io.offset, io.length);
    return true;
  }
  Result<void> prepare(const Io& io) override {
    admit(io);
    return {};
  }

 private:
  std::unique_ptr<ChangeTracker> m_tracker;
};

}  // namespace haven::block
