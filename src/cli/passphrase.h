#pragma once

// Where a repository passphrase comes from: the HAVEN_PASSPHRASE environment variable (for
// scripts), else a prompt on the terminal with echo off.

#include <string>

#include "base/error.h"

namespace haven::cli {

// `confirm`: ask twice (creating a key) and insist both agree.
Result<std::string> read_passphrase(bool confirm);

}  // namespace haven::cli
