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

Error Error::with_kind(ErrorKind kind, std::string field) && {
  m_kind = kind;
  if (!field.empty()) m_field = std::move(field);
  return std::move(*this);
}

ErrorKind error_kind_from_string(std::string_view name) {
  for (ErrorKind kind : {ErrorKind::invalid, ErrorKind::not_found, ErrorKind::conflict,
                         ErrorKind::unavailable, ErrorKind::forbidden})
    if (name == to_string(kind)) return kind;
  return ErrorKind::internal;
}

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::internal:
      return "internal";
    case ErrorKind::invalid:
      return "invalid";
    case ErrorKind::not_found:
      return "not_found";
    case ErrorKind::conflict:
      return "conflict";
    case ErrorKind::unavailable:
      return "unavailable";
    case ErrorKind::forbidden:
      return "forbidden";
  }
  return "internal";
}

}  // namespace haven
