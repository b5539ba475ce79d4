#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace haven::cli {

// `haven backup create|list|show|restore|verify`: backups of disk images in a repository.
// Returns the function that carries the subcommand out (-1 when it was not the one given).
std::function<int()> add_backup_command(CLI::App& app);

}  // namespace haven::cli
