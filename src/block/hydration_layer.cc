#include "block/hydration_layer.h"

namespace haven::block {

bool HydrationLayer::admit(const Io& io) {
  if (io.kind == Io::Kind::flush) return true;
  return m_image->try_prepare(io.offset, io.length, io.writes());
}

Result<void> HydrationLayer::prepare(const Io& io) {
  if (io.kind == Io::Kind::flush) return {};
  return m_image->prepare(io.offset, io.length, io.writes());
}

void HydrationLayer::finished(const Io& io, bool landed) {
  if (io.writes()) m_image->settle(io.offset, io.length, landed);
}

}  // namespace haven::block
