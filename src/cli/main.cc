// haven: the command users type. One subcommand per file in this folder.

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "cli/backup_command.h"
#include "cli/repo_command.h"
#include "cli/restore_command.h"
#include "cli/run_command.h"
#include "cli/vm_command.h"
#include "vmm/stop_reason.h"

int main(int argc, char** argv) {
  haven::log::set_program_name("haven");
  CLI::App app{"Haven: hosted virtualization and protection of what it hosts."};
  app.set_version_flag("--version", "haven 0.1.0");
  app.require_subcommand(1);
  std::function<int()> commands[] = {
      haven::cli::add_run_command(app), haven::cli::add_repo_command(app),
      haven::cli::add_backup_command(app), haven::cli::add_vm_command(app),
      haven::cli::add_restore_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" that exit 0.
    return app.exit(error) == 0 ? 0 : haven::vmm::kExitUsage;
  }
  for (const auto& command : commands)
    if (int status = command(); status >= 0) return status;
  return haven::vmm::kExitUsage;
}
