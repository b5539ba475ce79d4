#include "store/verify.h"

#include <cerrno>
#include <mutex>
#include <unordered_map>

namespace haven::store {

bool means_damage(const Error& error) {
  int code = error.code();
  return code == 0 || code == EIO || code == EBADMSG || code == EUCLEAN;
}

Result<VerifyReport> verify_snapshots(const Repository& repository,
                                      const std::vector<std::string>& ids, unsigned threads,
                                      const std::function<void(const Progress&)>& progress) {
  VerifyReport report;
  std::vector<Snapshot> snapshots;
  if (ids.empty()) {
    snapshots = TRY(repository.list_snapshots(&report.unreadable_snapshots));
  } else {
    for (const std::string& id : ids) snapshots.push_back(TRY(repository.find_snapshot(id)));
  }
  report.snapshots = snapshots.size();

  // Each distinct chunk once, with its size.
  std::unordered_map<ChunkId, uint64_t, ChunkIdHash> sizes;
  for (const Snapshot& snapshot : snapshots)
    for (size_t i = 0; i < snapshot.chunks.size(); ++i)
      if (!Snapshot::is_hole(snapshot.chunks[i]))
        sizes.emplace(
            snapshot.chunks[i],
            std::min<uint64_t>(snapshot.chunk_size, snapshot.size - i * snapshot.chunk_size));
  std::vector<std::pair<ChunkId, uint64_t>> chunks(sizes.begin(), sizes.end());
  uint64_t total = 0;
  for (const auto& chunk : chunks) total += chunk.second;

  std::mutex mutex;
  std::unordered_map<ChunkId, std::string, ChunkIdHash> bad;
  // Those whose stored blob failed its integrity check (not an errno: a pack that could not
  // be opened or read, EMFILE or EIO, says nothing of the data in it).
  std::vector<ChunkId> corrupt;
  std::atomic<uint64_t> done = 0;
  auto work = [&](uint64_t i) -> Result<void> {
    auto data = repository.read_chunk(chunks[i].first);
    if (data && data->size() != chunks[i].second)
      data = make_error("holds {} bytes, expected {}", data->size(), chunks[i].second);
    if (!data) {
      std::lock_guard lock(mutex);
      bad.emplace(chunks[i].first, data.error().message());
      if (means_damage(data.error())) corrupt.push_back(chunks[i].first);
    }
    done += chunks[i].second;
    return {};
  };
  auto report_progress = [&] {
    if (progress) progress({done, total, 0, 0});
  };
  TRY(run_parallel(chunks.size(), threads, work, report_progress));
  report.chunks_checked = chunks.size();
  report.bytes_checked = total;
  for (const ChunkId& id : corrupt) {
    auto marked = repository.mark_damaged(id);
    if (!marked)
      report.marking_errors.push_back(marked.error().message());
    else if (*marked)
      ++report.chunks_marked;
  }
  for (const Snapshot& snapshot : snapshots)
    for (size_t i = 0; i < snapshot.chunks.size(); ++i)
      if (auto found = bad.find(snapshot.chunks[i]); found != bad.end())
        report.damage.push_back({snapshot.id, i * uint64_t{snapshot.chunk_size},
                                 snapshot.chunks[i].hex(), found->second});
  return report;
}

}  // namespace haven::store
