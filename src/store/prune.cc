#include "store/prune.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>
#include <unordered_set>

#include "base/atomic_file.h"
#include "base/log.h"
#include "base/sys.h"
#include "store/boot_record.h"

namespace haven::store {
namespace {

enum class Period { none, hour, day, week, month, year };

// The period a time falls in, as text ("2026-11-26", "2026-W48"...), in UTC.
std::string bucket(int64_t seconds, Period period) {
  std::time_t time = seconds;
  std::tm utc{};
  ::gmtime_r(&time, &utc);
  char text[32] = "";
  switch (period) {
    case Period::none:
      break;
    case Period::hour:
      std::strftime(text, sizeof(text), "%Y-%m-%d %H:00", &utc);
      break;
    case Period::day:
      std::strftime(text, sizeof(text), "%Y-%m-%d", &utc);
      break;
    case Period::week:
      std::strftime(text, sizeof(text), "%G-W%V", &utc);
      break;
    case Period::month:
      std::strftime(text, sizeof(text), "%Y-%m", &utc);
      break;
    case Period::year:
      std::strftime(text, sizeof(text), "%Y", &utc);
      break;
  }
  return text;
}

struct Rule {
  const char* name;
  unsigned count;
  Period period;  // none: "last"
};

// Every pack file under packs/, by name, with its size.
Result<std::map<std::string, uint64_t>> pack_files(const std::string& packs_dir) {
  std::map<std::string, uint64_t> packs;
  DIR* top = ::opendir(packs_dir.c_str());
  if (!top) return errno_error("open {}", packs_dir);
  std::vector<std::string> subdirs;
  while (dirent* entry = ::readdir(top))
    if (entry->d_name[0] != '.') subdirs.push_back(entry->d_name);
  ::closedir(top);
  for (const std::string& sub : subdirs) {
    std::string directory = packs_dir + "/" + sub;
    DIR* dir = ::opendir(directory.c_str());
    if (!dir) continue;  // a stray file
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      if (auto st = sys::stat_path(directory + "/" + entry->d_name))
        packs[entry->d_name] = static_cast<uint64_t>(st->st_size);
    }
    ::closedir(dir);
  }
  return packs;
}

std::string pack_path(const std::string& packs_dir, const std::string& name) {
  return packs_dir + "/" + name.substr(0, 2) + "/" + name;
}

// Packs mostly garbage are rewritten; a little garbage is cheaper to keep.
constexpr double kRewriteGarbageShare = 0.2;

// The bytes of a pack no used blob takes, less its magic and list of blobs (pack.h), which are
// no garbage: a rewrite would make them again.
double garbage_bytes(const Repository& repository, const std::string& name, uint64_t size,
                     uint64_t used_bytes) {
  uint64_t garbage = size - std::min(size, used_bytes);
  if (static_cast<double>(garbage) <= kRewriteGarbageShare * static_cast<double>(size))
    return static_cast<double>(garbage);  // little enough already: the pack is not opened
  auto fd = sys::open(pack_path(repository.packs_dir(), name), O_RDONLY | O_CLOEXEC);
  if (fd) garbage -= std::min(garbage, pack_overhead_bytes(fd->get(), size));
  return static_cast<double>(garbage);
}

}  // namespace

Result<void> keep_held_snapshots(const Repository& repository, PruneDecision& decision,
                                 bool dry_run,
                                 const std::function<bool(const std::string&)>& still_filling) {
  std::map<std::string, std::string> held;  // snapshot id -> why
  const std::string host = this_host();
  for (const SnapshotHold& hold : TRY(read_holds(repository))) {
    if (hold.host != host) {
      held.emplace(hold.snapshot, fmt::format("held: {} on {} (remove {} once it is over)",
                                              hold.holder, hold.host, hold.file));
    } else if (still_filling(hold.image)) {
      held.emplace(hold.snapshot, "held: " + hold.holder);
    } else if (!dry_run) {
      TRY(remove_hold(hold));
    }
  }
  for (auto it = decision.remove.begin(); it != decision.remove.end();) {
    auto found = held.find(it->id);
    if (found == held.end()) {
      ++it;
      continue;
    }
    // Into its place among the kept (newest first).
    auto place = std::ranges::find_if(decision.keep,
                                      [&](const Snapshot& kept) { return kept.time < it->time; });
    decision.reasons.insert(decision.reasons.begin() + (place - decision.keep.begin()),
                            found->second);
    decision.keep.insert(place, std::move(*it));
    it = decision.remove.erase(it);
  }
  return {};
}

PruneDecision decide_prune(std::vector<Snapshot> snapshots, const KeepRules& rules) {
  PruneDecision decision;
  std::stable_sort(snapshots.begin(), snapshots.end(),
                   [](const Snapshot& a, const Snapshot& b) { return a.time > b.time; });
  const Rule all_rules[] = {
      {"last", rules.last, Period::none},        {"hourly", rules.hourly, Period::hour},
      {"daily", rules.daily, Period::day},       {"weekly", rules.weekly, Period::week},
      {"monthly", rules.monthly, Period::month}, {"yearly", rules.yearly, Period::year}};
  std::map<std::string, std::vector<size_t>> by_name;
  for (size_t i = 0; i < snapshots.size(); ++i) by_name[snapshots[i].name].push_back(i);
  std::vector<std::string> why(snapshots.size());
  for (const auto& [name, members] : by_name) {
    for (const Rule& rule : all_rules) {
      unsigned kept = 0;
      std::string previous;
      for (size_t i : members) {
        if (kept == rule.count) break;
        bool periodic = rule.period != Period::none;
        std::string key = bucket(snapshots[i].time, rule.period);
        if (periodic && key == previous) continue;
        previous = key;
        ++kept;
        if (!why[i].empty()) why[i] += ", ";
        why[i] += periodic ? std::string(rule.name) + " " + key : rule.name;
      }
    }
  }
  for (size_t i = 0; i < snapshots.size(); ++i) {
    if (why[i].empty()) {
      decision.remove.push_back(std::move(snapshots[i]));
    } else {
      decision.keep.push_back(std::move(snapshots[i]));
      decision.reasons.push_back(why[i]);
    }
  }
  return decision;
}

Result<GcReport> prune_snapshots(Repository& repository, const std::vector<std::string>& remove,
                                 bool dry_run) {
  if (repository.config().append_only && !remove.empty())
    return make_error("{} is append-only: snapshots cannot be removed", repository.path());
  auto lock = TRY(repository.lock_for_writing());
  // Under the lock, so the index is the one no backup is adding to.
  TRY(repository.reload_index());
  std::vector<std::string> problems;
  auto snapshots = TRY(repository.list_snapshots(&problems));
  if (!problems.empty())
    return make_error(
        "{} (an unreadable snapshot's chunks cannot be told from garbage: "
        "repair or remove it first)",
        problems.front());
  std::set<std::string> removing(remove.begin(), remove.end());
  GcReport report;
  std::unordered_set<ChunkId, ChunkIdHash> used;
  for (const Snapshot& snapshot : snapshots) {
    if (removing.count(snapshot.id)) {
      ++report.snapshots_removed;
      continue;
    }
    for (const ChunkId& id : snapshot.chunks)
      if (!Snapshot::is_hole(id)) used.insert(id);
  }
  if (report.snapshots_removed != removing.size())
    return make_error("some of the snapshots to remove are not in {}", repository.path());

  // Per pack: the entries the index points into it, and how many of their bytes are used.
  struct PackUse {
    std::vector<IndexEntry> entries;
    uint64_t used_bytes = 0;
  };
  std::map<std::string, PackUse> packs;
  for (const IndexEntry& entry : repository.index().entries()) {
    PackUse& use = packs[pack_name(entry.location.pack)];
    use.entries.push_back(entry);
    if (used.count(entry.id)) use.used_bytes += entry.location.length;
  }
  auto files = TRY(pack_files(repository.packs_dir()));
  std::vector<std::string> delete_packs, rewrite_packs;
  std::vector<IndexEntry> kept_entries;
  // Index files a repair set aside (or marked) may be the only record of data it could not
  // read back at the time: no pack is deleted or rewritten while any exist.
  bool index_set_aside = false;
  if (auto aside = sys::list_directory(repository.set_aside_dir()))
    index_set_aside = !aside->empty();
  else
    index_set_aside = aside.error().code() != ENOENT;  // unknown: take it as there
  for (const std::string& mark : TRY(repository.damaged_places()))
    index_set_aside = index_set_aside || mark.starts_with("index-");
  report.garbage_kept = index_set_aside;
  for (const auto& [name, size] : files) {
    auto found = packs.find(name);
    if (index_set_aside) {
      continue;
    } else if (found == packs.end() || found->second.used_bytes == 0) {
      delete_packs.push_back(name);
      report.bytes_freed += size;
    } else if (garbage_bytes(repository, name, size, found->second.used_bytes) >
               kRewriteGarbageShare * static_cast<double>(size)) {
      rewrite_packs.push_back(name);
      report.bytes_freed += size;
      report.bytes_rewritten += found->second.used_bytes;
    } else {
      kept_entries.insert(kept_entries.end(), found->second.entries.begin(),
                          found->second.entries.end());
    }
  }
  report.packs_removed = delete_packs.size() + rewrite_packs.size();
  report.packs_rewritten = rewrite_packs.size();
  if (dry_run) return report;
  if (repository.config().append_only && report.packs_removed)
    return make_error("{} is append-only: packs cannot be removed or rewritten", repository.path());

  // The caller left held snapshots out (a dry run leaves ended holds in place, hence here);
  // one held since prune began (a restore that started meanwhile) stops it. The holds lock
  // stays taken until the manifests are gone, so a restore starting now either is seen here
  // or finds its snapshot gone (write_hold).
  auto holds_lock = TRY(lock_holds(repository));
  for (const SnapshotHold& hold : TRY(read_holds(repository)))
    if (removing.count(hold.snapshot))
      return make_error("snapshot {} is held by {} ({}) since prune began: run it again",
                        hold.snapshot, hold.holder, hold.file);

  // 1. The pruned manifests.
  std::string snapshots_dir = repository.path() + "/snapshots";
  for (const std::string& id : removing) {
    TRY(with_context(sys::remove_file(snapshots_dir + "/" + id), "snapshot {}", id));
    remove_boot_record(repository, id);
  }
  TRY(fsync_directory(snapshots_dir));
  holds_lock = HoldsLock(UniqueFd());  // the manifests are gone: restores may look again
  if (index_set_aside) return report;  // the index and the packs stay as they are

  // 2. The chunks still used from packs being rewritten, copied blob for blob (unread: a
  // blob found damaged is carried with its mark, below).
  std::optional<PackWriter> writer;
  std::vector<std::pair<ChunkLocation, IndexEntry>> copies;  // from, to
  for (const std::string& name : rewrite_packs) {
    for (const IndexEntry& entry : packs[name].entries) {
      if (!used.count(entry.id)) continue;
      auto blob = TRY(repository.read_raw_blob(entry.location));
      if (!writer)
        writer.emplace(TRY(
            PackWriter::create(repository.tmp_dir(), repository.packs_dir(), repository.codec())));
      kept_entries.push_back(
          {entry.id, TRY(writer->append(entry.id, blob, entry.location.plain_size))});
      copies.emplace_back(entry.location, kept_entries.back());
      if (writer->size() >= ChunkWriter::kPackTarget) {
        TRY(writer->commit());
        writer.reset();
      }
    }
  }
  if (writer) TRY(writer->commit());
  // A copy of a blob found damaged (a verify may have run meanwhile: the marks are read now)
  // is damaged too, before the index names it.
  auto marks = TRY(repository.damaged_places());
  for (const auto& [from, to] : copies)
    if (marks.contains(Repository::place_name(from)))
      TRY(repository.mark_damaged_at(to.location, to.id));

  // 3. One index for everything that stays, then the old index files.
  auto old_index = TRY(repository.index_files());
  TRY(repository.replace_index(kept_entries, old_index));

  // 4. Packs nobody needs now.
  // Best effort: a pack left behind is only space, found again by the next prune.
  for (const std::string& name : delete_packs)
    (void)sys::remove_file(pack_path(repository.packs_dir(), name), true);
  for (const std::string& name : rewrite_packs)
    (void)sys::remove_file(pack_path(repository.packs_dir(), name), true);
  TRY(fsync_directory(repository.packs_dir()));
  // Marks of blobs in packs now gone name nothing.
  std::set<std::string> gone(delete_packs.begin(), delete_packs.end());
  gone.insert(rewrite_packs.begin(), rewrite_packs.end());
  for (const std::string& place : marks)
    if (gone.contains(place.substr(0, place.find('.'))))
      (void)sys::remove_file(repository.damaged_dir() + "/" + place, true);
  return report;
}

}  // namespace haven::store
