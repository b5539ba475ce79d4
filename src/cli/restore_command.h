#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace haven::cli {

// `haven restore --repo DIR SNAPSHOT --name NEW [--instant]`: a new guest booted from a backup
// through havend. Returns the function that carries it out (-1 when it was not the command).
std::function<int()> add_restore_command(CLI::App& app);

}  // namespace haven::cli
