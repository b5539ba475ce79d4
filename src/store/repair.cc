#include "store/repair.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "base/sys.h"
#include "store/verify.h"

namespace haven::store {
namespace {

// An error that says nothing of the data (EMFILE, EACCES) stops a repair: acting on it could
// drop data that is fine.
Result<void> fatal_unless_damage(const Error& error) {
  if (means_damage(error)) return {};
  return std::unexpected(Error(error).with_context("repair stopped, nothing changed"));
}

using Place = std::pair<PackId, uint64_t>;

Place place_of(const IndexEntry& entry) {
  return {entry.location.pack, entry.location.offset};
}

}  // namespace

Result<RepairReport> repair_repository(Repository& repository, bool dry_run, unsigned threads,
                                       const std::function<void(const Progress&)>& progress) {
  RepairReport report;
  report.dry_run = dry_run;
  auto lock = TRY(repository.lock_for_writing());
  const bool append_only = repository.config().append_only;
  report.append_only = append_only;
  // Read now: a mark a verify (which takes no lock) writes later is kept.
  const auto marks = TRY(repository.damaged_places());
  for (const std::string& mark : marks) report.damage_marks += !mark.starts_with("index-");

  // 1. What the index files say, those that can be read (not those an earlier repair of an
  // append-only repository marked), and what the files an earlier repair set aside say.
  auto index_names = TRY(repository.index_files());
  std::erase_if(index_names, [&](const std::string& name) {
    return marks.contains(Repository::index_mark_name(name));
  });
  std::vector<std::string> set_aside = TRY(repository.set_aside_files());
  report.set_aside_index_files = set_aside.size();
  std::vector<std::string> readable_index_files, damaged_index_names;
  std::map<PackId, std::vector<IndexEntry>> indexed;  // by pack
  std::unordered_set<ChunkId, ChunkIdHash> indexed_ids;
  std::set<std::pair<ChunkId, Place>> indexed_places;
  // Each readable file's entries, to tell which files the new index supersedes.
  std::map<std::string, std::vector<std::pair<ChunkId, Place>>> file_entries;
  for (const std::string& name : index_names) {
    auto entries = repository.read_index_file(name);
    if (!entries) {
      TRY(fatal_unless_damage(entries.error()));
      report.damaged_index_files.push_back(entries.error().message());
      damaged_index_names.push_back(name);
      continue;
    }
    readable_index_files.push_back(name);
    for (const IndexEntry& entry : *entries) {
      indexed[entry.location.pack].push_back(entry);
      indexed_ids.insert(entry.id);
      indexed_places.emplace(entry.id, place_of(entry));
      file_entries[name].emplace_back(entry.id, place_of(entry));
    }
  }
  std::vector<std::string> readable_set_aside;
  for (const std::string& name : set_aside) {
    auto entries = repository.read_index_file(name, true);
    if (!entries) {
      TRY(fatal_unless_damage(entries.error()));
      continue;  // still damaged: stays where it is
    }
    readable_set_aside.push_back(name);
    for (const IndexEntry& entry : *entries) {
      indexed[entry.location.pack].push_back(entry);
      file_entries["aside/" + name].emplace_back(entry.id, place_of(entry));
    }
  }

  // 2. What the packs say they hold (or, for a pack that lists nothing, what the index says).
  std::vector<IndexEntry> candidates;
  std::set<PackId> present;
  uint64_t lists_read = 0;
  for (const PackId& pack : TRY(repository.pack_ids())) {
    ++report.packs;
    present.insert(pack);
    std::vector<IndexEntry> entries;
    auto listed = repository.read_pack_list(pack);
    if (!listed) {
      TRY(fatal_unless_damage(listed.error()));
      report.damaged_packs.push_back(listed.error().message());
    } else if (!*listed) {
      ++report.listless_packs;
    } else {
      entries = std::move(**listed);
      ++lists_read;
    }
    // The index's entries for it that its list does not hold alike (a list or an index
    // entry may be damaged: both are read back, and the healthy one wins).
    std::set<std::tuple<uint64_t, ChunkId, uint32_t, uint32_t>> known;
    auto key = [](const IndexEntry& entry) {
      return std::tuple(entry.location.offset, entry.id, entry.location.length,
                        entry.location.plain_size);
    };
    for (const IndexEntry& entry : entries) known.insert(key(entry));
    if (auto found = indexed.find(pack); found != indexed.end())
      for (const IndexEntry& entry : found->second)
        if (known.insert(key(entry)).second) entries.push_back(entry);
    candidates.insert(candidates.end(), entries.begin(), entries.end());
  }
  for (const auto& [pack, entries] : indexed)
    if (!present.contains(pack)) report.missing_packs.push_back(pack_name(pack));

  // 3. Every blob read back, as a restore would.
  uint64_t total = 0;
  for (const IndexEntry& entry : candidates) total += entry.location.plain_size;
  // 1: read back whole; 2: its data is wrong (an integrity failure, for good); 0: failed to
  // read (EIO and the like: maybe not for good).
  std::vector<uint8_t> healthy(candidates.size(), 0);
  std::vector<std::string> problems(candidates.size());
  std::atomic<uint64_t> done = 0;
  auto check = [&](uint64_t i) -> Result<void> {
    thread_local std::vector<uint8_t> plain;
    plain.resize(candidates[i].location.plain_size);
    auto read = repository.read_chunk_at_into(candidates[i], plain);
    if (read) {
      healthy[i] = 1;
    } else {
      TRY(fatal_unless_damage(read.error()));
      problems[i] = read.error().message();
      if (read.error().code() == 0) healthy[i] = 2;
    }
    done += candidates[i].location.plain_size;
    return {};
  };
  TRY(run_parallel(candidates.size(), threads, check, [&] {
    if (progress) progress({done, total, 0, 0, 0});
  }));
  report.blobs_checked = candidates.size();
  report.bytes_checked = total;

  // 4. One healthy copy of each chunk.
  std::unordered_map<ChunkId, size_t, ChunkIdHash> chosen;
  std::vector<IndexEntry> fresh;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (healthy[i] != 1) {
      if (indexed_places.contains({candidates[i].id, place_of(candidates[i])}) ||
          !report.damaged_index_files.empty())  // (it may have been in the damaged one)
        report.damaged_blobs.push_back(problems[i]);
      else
        ++report.unindexed_damaged_blobs;
    } else if (chosen.emplace(candidates[i].id, i).second) {
      fresh.push_back(candidates[i]);
    }
  }
  report.chunks_indexed = chosen.size();
  for (const auto& [id, i] : chosen) report.chunks_recovered += !indexed_ids.contains(id);
  for (const ChunkId& id : indexed_ids) report.chunks_dropped += !chosen.contains(id);

  // Nothing authenticates: a wrong keys/auth or passphrase, or a config.json changed (its
  // chunk size, say), not damage to everything at once. (With files set aside rather than
  // deleted, going ahead would lose nothing for good, but would say everything is lost.)
  const uint64_t listed_packs = report.packs - report.listless_packs;
  if ((readable_index_files.empty() && lists_read == 0 && fresh.empty() &&
       (!index_names.empty() || report.packs > 0)) ||
      (listed_packs >= 2 && lists_read == 0))
    return make_error(
        "repair stopped, nothing changed: {} of {} reads back, which is more likely a wrong key "
        "(keys/auth, the passphrase) or a changed config.json than damage to all of it",
        lists_read == 0 && listed_packs >= 2 ? "not one pack's list" : "nothing",
        repository.path());

  // 5. What each snapshot lost.
  for (const std::string& id : TRY(repository.snapshot_ids())) {
    auto snapshot = repository.read_snapshot(id);
    if (!snapshot) {
      TRY(fatal_unless_damage(snapshot.error()));
      report.unreadable_snapshots.push_back(snapshot.error().message());
      continue;
    }
    LostData lost{snapshot->id, snapshot->name, 0, 0};
    for (size_t i = 0; i < snapshot->chunks.size(); ++i) {
      const ChunkId& chunk = snapshot->chunks[i];
      if (Snapshot::is_hole(chunk) || chosen.contains(chunk)) continue;
      if (lost.chunks++ == 0) lost.first_offset = i * uint64_t{snapshot->chunk_size};
    }
    if (lost.chunks) report.lost.push_back(std::move(lost));
  }

  // 6. The new index.
  if (dry_run || report.clean()) return report;
  if (append_only) {
    // Nothing removed: damaged index files and blobs are marked (which loading and backups
    // honour), and what the index lacked is added.
    std::unordered_set<ChunkId, ChunkIdHash> healthy_indexed;
    for (size_t i = 0; i < candidates.size(); ++i)
      if (healthy[i] == 1 && indexed_places.contains({candidates[i].id, place_of(candidates[i])}))
        healthy_indexed.insert(candidates[i].id);
    std::vector<IndexEntry> added;
    for (const IndexEntry& entry : fresh)
      if (!healthy_indexed.contains(entry.id)) added.push_back(entry);
    for (size_t i = 0; i < candidates.size(); ++i)
      if (healthy[i] != 1)
        TRY(repository.mark_damaged_at(candidates[i].location, candidates[i].id));
    for (const std::string& name : damaged_index_names) TRY(repository.mark_index_damaged(name));
    TRY(repository.write_index(added));
    report.index_rewritten = !added.empty();
  } else {
    // An index file is deleted only when the new index holds every entry it had, read back
    // whole, but those whose data is wrong for good; any other (damaged, or naming a blob that
    // failed to read, a missing pack's) is set aside
    // in index-damaged/, not deleted: it may be the only record of data that failed to read
    // for a while (EIO, a pack on a device not mounted), and a later repair reads it again.
    // An entry is superseded when the new index holds a healthy copy of its chunk, or when its
    // own blob's data is wrong for good.
    std::set<std::pair<ChunkId, Place>> wrong;
    for (size_t i = 0; i < candidates.size(); ++i)
      if (healthy[i] == 2) wrong.emplace(candidates[i].id, place_of(candidates[i]));
    auto superseded = [&](const std::string& key) {
      return std::ranges::all_of(file_entries[key], [&](const auto& entry) {
        return chosen.contains(entry.first) || wrong.contains(entry);
      });
    };
    std::vector<std::string> replaced;
    for (const std::string& name : readable_index_files)
      if (superseded(name))
        replaced.push_back(name);
      else
        damaged_index_names.push_back(name);
    // The new index first: a crash before the rest leaves duplicates, never less.
    TRY(repository.replace_index(fresh, replaced));
    for (const std::string& mark : marks)  // marked where nothing could be removed
      if (mark.starts_with("index-")) TRY(repository.set_index_file_aside(mark.substr(6), true));
    for (const std::string& name : damaged_index_names) TRY(repository.set_index_file_aside(name));
    for (const std::string& name : readable_set_aside)
      if (superseded("aside/" + name))
        TRY(sys::remove_file(repository.set_aside_dir() + "/" + name, true));
    // Every place indexed now was read back whole: the marks read at the start name nothing
    // indexed.
    for (const std::string& place : marks)
      TRY(sys::remove_file(repository.damaged_dir() + "/" + place, true));
    report.index_rewritten = true;
  }
  TRY(repository.reload_index());
  return report;
}

}  // namespace haven::store
