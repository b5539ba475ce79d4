#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace haven::cli {

// `haven repo repair DIR [--dry-run] [--json]`: rebuilds the index from the packs
// (store/repair.h). Returns the function that carries it out (-1 when it was not given).
std::function<int()> add_repo_repair(CLI::App& repo);

}  // namespace haven::cli
