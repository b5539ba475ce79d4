#include "cli/repo_command.h"

#include <memory>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sys.h"
#include "base/units.h"
#include "cli/exit_codes.h"
#include "cli/passphrase.h"
#include "cli/repo_repair.h"
#include "store/repository.h"

namespace haven::cli {
namespace {

struct InitArgs {
  std::string path;
  bool encrypt = false;
  bool append_only = false;
  std::string chunk_size = "64K";
  int compression = 1;
  bool json_output = false;
};

int run_init(const InitArgs& args) {
  store::InitOptions options;
  options.encrypt = args.encrypt;
  options.append_only = args.append_only;
  auto chunk_size = parse_size(args.chunk_size, 1);
  if (!chunk_size || *chunk_size < 4096 || *chunk_size > (16u << 20) ||
      (*chunk_size & (*chunk_size - 1))) {
    log::error("--chunk-size: '{}' is not a power of two from 4K to 16M", args.chunk_size);
    return kExitUsage;
  }
  options.chunk_size = static_cast<uint32_t>(*chunk_size);
  options.compression_level = args.compression;
  if (args.encrypt) {
    auto passphrase = read_passphrase(true);
    if (!passphrase) {
      log::error("{}", passphrase.error().message());
      return kExitUsage;
    }
    options.passphrase = *passphrase;
  }
  if (auto made = store::Repository::init(args.path, options); !made) {
    log::error("{}", made.error().message());
    return kExitFailed;
  }
  bool immutable = args.append_only && sys::is_immutable(args.path + "/config.json");
  if (args.append_only && !immutable)
    log::warn(
        "append-only: files cannot be made immutable here (needs root and a file system with "
        "chattr +i); only Haven's own refusals protect them");
  if (args.json_output) {
    nlohmann::json made = {{"path", args.path},
                           {"encrypted", args.encrypt},
                           {"chunk_size", options.chunk_size},
                           {"compression", options.compression_level},
                           {"append_only", args.append_only},
                           {"immutable", immutable}};
    fmt::print("{}\n", made.dump(2));
    return kExitOk;
  }
  fmt::print("created {} repository {} ({} chunks)\n", args.encrypt ? "an encrypted" : "a",
             args.path, format_size(options.chunk_size));
  if (immutable) fmt::print("append-only: every file it commits is made immutable (chattr +i)\n");
  return kExitOk;
}

}  // namespace

std::function<int()> add_repo_command(CLI::App& app) {
  CLI::App* repo = app.add_subcommand("repo", "Backup repositories");
  repo->require_subcommand(1);
  auto args = std::make_shared<InitArgs>();
  CLI::App* init = repo->add_subcommand(
      "init",
      "Create a backup repository in a new or empty directory.\n"
      "With --encrypt the passphrase comes from HAVEN_PASSPHRASE, else the terminal.");
  init->add_option("DIR", args->path, "Directory to create the repository in")->required();
  init->add_flag("--encrypt", args->encrypt,
                 "Encrypt everything (AES-256-GCM, keys sealed by a passphrase via scrypt)");
  init->add_flag("--append-only", args->append_only,
                 "Snapshots can be added, never removed: prune refuses, and committed files "
                 "are made immutable (chattr +i) where allowed");
  init->add_option("--chunk-size", args->chunk_size,
                   "Chunk size, a power of two from 4K to 16M (default 64K)");
  init->add_option("--compression", args->compression,
                   "zstd level: -7 (fastest) to 19 (smallest), 0 for none (default 1)")
      ->check(CLI::Range(-7, 19));
  init->add_flag("--json", args->json_output,
                 "Print what was made as JSON (path, encrypted, chunk_size, compression, "
                 "append_only, immutable)");
  auto repair = add_repo_repair(*repo);
  return [init, args, repair]() -> int { return init->parsed() ? run_init(*args) : repair(); };
}

}  // namespace haven::cli
