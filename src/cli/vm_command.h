#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace haven::cli {

// `haven vm create|ls|show|start|stop|kill|pause|resume|rm|console`: guests managed by havend,
// through its REST API. Returns the function that carries the subcommand out (-1 when it was
// not the one given).
std::function<int()> add_vm_command(CLI::App& app);

}  // namespace haven::cli
