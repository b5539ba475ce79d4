#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace haven::cli {

// The one line a command-line mistake gets: what is wrong, and which command's --help shows
// how it is used, e.g. "'bogus' is not a command or option of `haven vm` (see `haven vm
// --help`)". APP is the root command, after parse() threw ERROR.
std::string usage_error(const CLI::App& app, const CLI::ParseError& error);

}  // namespace haven::cli
