// haven: the command users type. One subcommand per file in this folder.

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "base/sys.h"
#include "cli/backup_command.h"
#include "cli/repo_command.h"
#include "cli/restore_command.h"
#include "cli/run_command.h"
#include "cli/usage_error.h"
#include "cli/vm_command.h"
#include "store/openssl_memory.h"
#include "vmm/stop_reason.h"

// Unlocking a repository (scrypt) gets huge pages; installed before any library's initializer
// can use OpenSSL (store/openssl_memory.h).
[[gnu::section(".preinit_array"), gnu::used]] static constexpr auto* kOpensslMemory =
    &haven::store::openssl_memory::preinit;

int main(int argc, char** argv) {
  haven::log::set_program_name("haven");
  haven::sys::raise_open_file_limit();
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
    if (error.get_exit_code() == 0) return app.exit(error);
    haven::log::error("{}", haven::cli::usage_error(app, error));
    return haven::vmm::kExitUsage;
  }
  for (const auto& command : commands)
    if (int status = command(); status >= 0) return status;
  return haven::vmm::kExitUsage;
}
