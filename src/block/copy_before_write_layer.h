#pragma once

// A running backup's point-in-time view (point_in_time.h) as a layer of the block stack: a
// write, discard or write-zeroes that touches a block the backup still wants waits on the
// stack's worker while the block is copied aside; one that touches none goes on at once.
// Reads never wait. A copy that fails breaks the view (the backup fails), not the guest's
// write.

#include <memory>
#include <string>

#include "base/unique_fd.h"
#include "block/layer.h"
#include "block/point_in_time.h"

namespace haven::block {

class CopyBeforeWriteLayer final : public Layer {
 public:
  // `name` (the image's path) prefixes the logged failure; `image` is the fd `view` copies
  // through (owned here, so it outlives the view).
  CopyBeforeWriteLayer(std::string name, UniqueFd image, std::unique_ptr<CopyBeforeWrite> view)
      : m_name(std::move(name)), m_image(std::move(image)), m_view(std::move(view)) {}

  const CopyBeforeWrite& view() const { return *m_view; }

  bool admit(const Io& io) override;
  Result<void> prepare(const Io& io) override;

 private:
  std::string m_name;
  UniqueFd m_image;
  std::unique_ptr<CopyBeforeWrite> m_view;
};

}  // namespace haven::block
