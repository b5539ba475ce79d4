#pragma once

// The one place where an error's kind becomes the HTTP status havend answers with.

#include "base/error.h"

namespace haven::daemon {

// invalid 400, not_found 404, conflict 409, unavailable 503, internal 500.
int http_status(ErrorKind kind);

}  // namespace haven::daemon
