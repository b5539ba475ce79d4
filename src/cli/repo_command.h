#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace haven::cli {

// `haven repo init DIR [--encrypt]`: creates a backup repository; `haven repo repair DIR`
// (cli/repo_repair.h). Returns the function that
// carries the subcommand out (-1 when it was not the one given).
std::function<int()> add_repo_command(CLI::App& app);

}  // namespace haven::cli
