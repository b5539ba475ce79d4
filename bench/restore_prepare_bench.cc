// What havend does for `haven restore --instant` before it starts the VMM (read the snapshot,
// define the guest, make the restoring image and its state, hold the snapshot), timed for
// disks of several sizes in a repository of each format version, in the same run: version 1
// keeps a snapshot's metadata and chunk ids in one sealed blob, so havend decrypts 32 bytes a
// chunk to learn the guest's config; version 2 reads the small head alone
// (store/manifest_file.h). The snapshots list random chunk ids (as a disk of random data
// would) without their data: nothing here reads a chunk. Prints medians and the growth from
// the smallest disk to the largest.
//
//   haven-restore-prepare-bench --kernel FILE [--dir DIR] [--sizes 1G,16G] [--runs 9] [--json]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/sys.h"
#include "base/units.h"
#include "daemon/backup_restore.h"
#include "store/crypto.h"
#include "store/repository.h"

using namespace haven;

namespace {

// An encrypted repository of format `version` with one snapshot per size; returns their ids.
Result<std::vector<std::string>> make_repository(const std::string& path, int version,
                                                 const std::vector<uint64_t>& sizes,
                                                 const std::string& kernel) {
  store::InitOptions init;
  init.encrypt = true;
  init.passphrase = "bench";
  TRY(store::Repository::init(path, init));
  if (version != store::kRepoVersion) {  // as an older Haven made it
    auto text = TRY(sys::read_until_end(path + "/config.json", 1 << 20));
    auto json = nlohmann::json::parse(text);
    json["version"] = version;
    std::string out = json.dump(2) + "\n";
    std::filesystem::permissions(path + "/config.json", std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    auto fd = TRY(sys::open(path + "/config.json", O_WRONLY | O_TRUNC));
    TRY(sys::write_all(fd.get(), bytes_of(out)));
  }
  auto repository =
      TRY(store::Repository::open(path, []() -> Result<std::string> { return "bench"; }));
  std::vector<std::string> ids;
  for (uint64_t size : sizes) {
    store::Snapshot snapshot;
    snapshot.name = "bench";
    snapshot.source = "/bench/disk.img";
    snapshot.size = size;
    snapshot.chunk_size = repository->config().chunk_size;
    snapshot.vm =
        nlohmann::json{
            {"name", "bench"}, {"kernel", kernel}, {"disks", {{{"path", "/bench/disk.img"}}}}}
            .dump();
    snapshot.disk = 0;
    snapshot.chunks.resize(snapshot.chunk_count());
    std::array<uint8_t, 32> seed;
    TRY(store::random_bytes(seed));
    for (uint64_t i = 0; i < snapshot.chunks.size(); ++i) {
      std::array<uint8_t, 40> input{};
      std::copy(seed.begin(), seed.end(), input.begin());
      std::memcpy(input.data() + 32, &i, 8);
      snapshot.chunks[i] = store::sha256(input);
    }
    TRY(repository->write_snapshot(snapshot));
    ids.push_back(snapshot.id);
  }
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"havend's part of an instant restore, by disk size and repository version"};
  std::string dir = "/var/tmp", sizes_text = "1G,16G", kernel;
  int runs = 9;
  bool json_out = false;
  app.add_option("--dir", dir, "where to make the scratch directory");
  app.add_option("--sizes", sizes_text, "disk sizes, comma-separated (M or G)");
  app.add_option("--runs", runs, "restores per size and version")->check(CLI::Range(1, 1000));
  app.add_option("--kernel", kernel, "a kernel file for the guests' config (not booted)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_flag("--json", json_out, "one JSON object instead of a table");
  CLI11_PARSE(app, argc, argv);
  kernel = std::filesystem::absolute(kernel).string();
  std::vector<uint64_t> sizes;
  std::vector<std::string> names;
  for (size_t at = 0; at <= sizes_text.size();) {
    size_t comma = std::min(sizes_text.find(',', at), sizes_text.size());
    names.push_back(sizes_text.substr(at, comma - at));
    auto size = parse_size(names.back(), 1);
    if (!size) {
      std::fprintf(stderr, "restore-prepare-bench: --sizes: %s\n", size.error().message().c_str());
      return 2;
    }
    sizes.push_back(*size);
    at = comma + 1;
  }

  std::string pattern = dir + "/haven-prepare-bench.XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string work = pattern;
  struct Cleanup {
    std::string path;
    ~Cleanup() { std::filesystem::remove_all(path); }
  } cleanup{work};

  daemon::RepositorySessions sessions;
  std::map<int, std::vector<double>> medians;  // version -> per size (ms)
  nlohmann::json report = nlohmann::json::object();
  int serial = 0;
  for (int version : {1, 2}) {
    std::string repo = fmt::format("{}/repo-v{}", work, version);
    auto ids = make_repository(repo, version, sizes, kernel);
    if (!ids) {
      std::fprintf(stderr, "restore-prepare-bench: %s\n", ids.error().message().c_str());
      return 1;
    }
    for (size_t s = 0; s < sizes.size(); ++s) {
      std::vector<double> times;
      for (int run = 0; run < runs; ++run) {
        daemon::BackupRestoreRequest request;
        request.repo = repo;
        request.snapshot = (*ids)[s];
        request.name = fmt::format("r{}", ++serial);
        request.passphrase = "bench";
        std::string disk_dir = fmt::format("{}/disks/{}", work, request.name);
        auto start = std::chrono::steady_clock::now();
        auto prepared = daemon::prepare_backup_restore(request, sessions, disk_dir);
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        if (!prepared) {
          std::fprintf(stderr, "restore-prepare-bench: %s\n", prepared.error().message().c_str());
          return 1;
        }
        if (run > 0 || runs == 1) times.push_back(ms);  // the first opens the repository
        std::filesystem::remove_all(disk_dir);
      }
      std::sort(times.begin(), times.end());
      double median = times[times.size() / 2];
      medians[version].push_back(median);
      report[fmt::format("v{}", version)][names[s]] = median;
    }
  }
  if (json_out) {
    std::printf("%s\n", report.dump(2).c_str());
    return 0;
  }
  std::printf("%-22s", "repository");
  for (const auto& name : names) std::printf(" %10s", name.c_str());
  std::printf(" %12s\n", "growth (ms)");
  for (int version : {1, 2}) {
    std::printf("%-22s", version == 1 ? "v1 (one-piece)" : "v2 (head apart)");
    for (double ms : medians[version]) std::printf(" %8.2fms", ms);
    std::printf(" %12.2f\n", medians[version].back() - medians[version].front());
  }
  std::printf(
      "(medians of %d restores each, the first left out; havend's work before the VMM "
      "starts)\n",
      runs > 1 ? runs - 1 : 1);
  return 0;
}
