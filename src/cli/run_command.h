#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace haven::cli {

// `haven run`: boot a guest in this terminal without a daemon. Registers the subcommand and
// returns the function that carries it out (it execs haven-vmm, or returns an exit status).
std::function<int()> add_run_command(CLI::App& app);

}  // namespace haven::cli
