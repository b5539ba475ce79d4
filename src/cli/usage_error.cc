#include "cli/usage_error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace haven::cli {

std::string usage_error(const CLI::App& app, const CLI::ParseError& error) {
  // The deepest command that was recognised, and its path ("haven vm show").
  const CLI::App* command = &app;
  std::string path = "haven";  // not argv[0], which may be a path
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const CLI::App* sub : command->get_subcommands()) {
      if (!sub->parsed()) continue;
      command = sub;
      path += " " + sub->get_name();
      deeper = true;
      break;
    }
  }
  // A missing or unknown command: CLI11 would only say that "a subcommand is required".
  std::string what = error.what();
  if (command->get_require_subcommand_min() > 0 && command->get_subcommands().empty()) {
    std::vector<std::string> names;
    for (const CLI::App* sub : command->get_subcommands([](const CLI::App*) { return true; }))
      names.push_back(sub->get_name());
    // The words nobody took: with `haven vm`'s fallthrough they end up with its parents.
    std::vector<std::string> unknown = app.remaining(true);
    what = unknown.empty()
               ? fmt::format("`{}` needs a command: {}", path, fmt::join(names, ", "))
               : fmt::format("'{}' is not a command or option of `{}`; its commands: {}",
                             unknown.front(), path, fmt::join(names, ", "));
  }
  return fmt::format("{} (see `{} --help`)", what, path);
}

}  // namespace haven::cli
