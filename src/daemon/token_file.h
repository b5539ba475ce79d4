#pragma once

// The bearer token that guards havend's TCP API, read from a file only its owner can read.

#include <string>
#include <string_view>

#include "base/error.h"

namespace haven::daemon {

// The file must be a regular file owned by this user with no group or other permissions
// (0600 or stricter), holding one token of at least 16 characters (surrounding whitespace is
// ignored). Anything else is an error saying what to fix.
Result<std::string> read_token_file(const std::string& path);

// Compares in time that does not depend on where the inputs first differ.
bool same_token(std::string_view given, std::string_view expected);

}  // namespace haven::daemon
