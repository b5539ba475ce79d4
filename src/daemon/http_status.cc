#include "daemon/http_status.h"

namespace haven::daemon {

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid:
      return 400;
    case ErrorKind::not_found:
      return 404;
    case ErrorKind::conflict:
      return 409;
    case ErrorKind::unavailable:
      return 503;
    case ErrorKind::forbidden:
      return 403;
    case ErrorKind::internal:
      return 500;
  }
  return 500;
}

}  // namespace haven::daemon
