#include "block/copy_before_write_layer.h"

#include "base/log.h"

namespace haven::block {

bool CopyBeforeWriteLayer::admit(const Io& io) {
  return !io.writes() || m_view->settled(io.offset, io.length);
}

Result<void> CopyBeforeWriteLayer::prepare(const Io& io) {
  if (!io.writes()) return {};
  if (auto copied = m_view->before_write(io.offset, io.length); !copied)
    log::error("{}: the running backup fails: {}", m_name, copied.error().message());
  return {};
}

}  // namespace haven::block
