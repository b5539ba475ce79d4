#include "base/error.h"

#include <cstring>

namespace haven {

Error Error::from_errno(std::string_view what, int err) {
  return Error(fmt::format("{}: {}", what, std::strerror(err)), err);
}

Error Error::with_context(std::string_view context) && {
  m_message = fmt::format("{}: {}", context, m_message);
  return std::move(*this);
}

}  // namespace haven
