#pragma once

// A backup repository in a local directory:
//   config.json       what it is (repo_config.h)
//   keys/main.json    the sealed master keys, when encrypted (key_file.h)
//   keys/auth         unencrypted, version 3: the key metadata blobs are tagged under (blob.h)
//   packs/XX/<id>     chunk blobs (pack.h)
//   index/<id>        where each chunk is, one file per backup (chunk_index.h)
//   snapshots/<id>    one manifest per snapshot (manifest.h, manifest_file.h)
//   tmp/              packs being written; stale ones are removed by the next writer
//   verify/, holds/   boot verification results, and holds prune honours (boot_record.h,
//                     snapshot_hold.h): not backup data
//   lock              flock()ed by writers; readers need no lock
// Every file is written whole and renamed into place after an fsync, in the order packs →
// index → snapshot, so a crash at any point leaves a consistent repository (at worst some
// packs nobody references yet, which garbage collection removes).

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/error.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "store/blob.h"
#include "store/chunk_index.h"
#include "store/manifest.h"
#include "store/pack.h"
#include "store/repo_config.h"

namespace haven::store {

struct InitOptions {
  bool encrypt = false;
  std::string passphrase;  // when encrypting
  uint32_t chunk_size = 64 << 10;
  bool append_only = false;
  int compression_level = 1;
  KdfParams kdf;
  int version = kRepoVersion;  // an older format only to make one for tests
};

// Asked for only when the repository is encrypted.
using PassphraseSource = std::function<Result<std::string>()>;

// An open writer lock (flock on `lock`); released when destroyed.
class WriterLock {
 public:
  explicit WriterLock(UniqueFd fd) : m_fd(std::move(fd)) {}

 private:
  UniqueFd m_fd;
};

class Repository {
 public:
  static Result<void> init(const std::string& path, const InitOptions& options);
  static Result<std::unique_ptr<Repository>> open(const std::string& path,
                                                  const PassphraseSource& passphrase);
  // With master keys another process already unlocked (no key derivation); wrong keys show
  // as every sealed file failing authentication.
  static Result<std::unique_ptr<Repository>> open_unlocked(const std::string& path,
                                                           const MasterKeys& keys);
  // Without reading the index files (for `repo repair`, which reads them one by one and
  // survives a damaged one); the index is empty until reload_index().
  static Result<std::unique_ptr<Repository>> open_without_index(const std::string& path,
                                                                const PassphraseSource& passphrase);
  // The master keys, when encrypted (to hand to a VMM, store/key_handoff.h).
  const std::optional<MasterKeys>& keys() const { return m_keys; }

  const std::string& path() const { return m_path; }
  const RepoConfig& config() const { return m_config; }
  BlobCodec codec() const {
    return {m_keys ? &*m_keys : nullptr, m_config.compression_level,
            m_auth_key ? &*m_auth_key : nullptr};
  }
  // SHA-256, or HMAC-SHA-256 under the id key when encrypted.
  ChunkId chunk_id(std::span<const uint8_t> plain) const;

  // Writers: exclusive, fails at once naming the holder when another writer has it. Removes
  // what crashed writers left in tmp/.
  Result<WriterLock> lock_for_writing();

  ChunkIndex& index() { return m_index; }
  const ChunkIndex& index() const { return m_index; }
  // Reads, authenticates, decompresses and re-hashes one chunk.
  Result<std::vector<uint8_t>> read_chunk(const ChunkId& id) const;
  // The same into `plain`, which must be the chunk's size; on failure it holds nothing to trust.
  Result<void> read_chunk_into(const ChunkId& id, std::span<uint8_t> plain) const;
  // The same for the blob `entry` names, indexed or not.
  Result<void> read_chunk_at_into(const IndexEntry& entry, std::span<uint8_t> plain) const;

  // Snapshots. write_snapshot() gives the snapshot its id.
  Result<void> write_snapshot(Snapshot& snapshot);
  Result<Snapshot> read_snapshot(const std::string& id) const;
  // Its metadata without the chunk ids: a few KiB read for any disk size in a version-2
  // repository (store/manifest_file.h); a version-1 manifest is read whole.
  Result<SnapshotHead> read_snapshot_head(const std::string& id) const;
  // Every snapshot id, sorted.
  Result<std::vector<std::string>> snapshot_ids() const;
  // The id of the unique snapshot whose id is or starts with `id_or_prefix`.
  Result<std::string> resolve_snapshot_id(const std::string& id_or_prefix) const;
  // A unique snapshot by id or id prefix, whole or its head.
  Result<Snapshot> find_snapshot(const std::string& id_or_prefix) const;
  Result<SnapshotHead> find_snapshot_head(const std::string& id_or_prefix) const;
  // Every readable snapshot, oldest first; unreadable ones are errors in `problems`.
  Result<std::vector<Snapshot>> list_snapshots(std::vector<std::string>* problems = nullptr) const;
  Result<std::vector<SnapshotHead>> list_snapshot_heads(
      std::vector<std::string>* problems = nullptr) const;

  // Index files: adds `entries` durably (one new file) and to the in-memory index.
  Result<void> write_index(const std::vector<IndexEntry>& entries);
  // Catches up with index files other writers added or garbage collection replaced since
  // (a writer does this once it holds the lock: backup_image and prune do; a restoring VMM
  // after a failed read). Safe beside readers; callers run one at a time.
  Result<void> reload_index();
  // The index files' names.
  Result<std::vector<std::string>> index_files() const;
  // One index file's entries (of index-damaged/ when `set_aside`), each checked to fit a chunk
  // of this repository.
  Result<std::vector<IndexEntry>> read_index_file(const std::string& name,
                                                  bool set_aside = false) const;
  // The packs in packs/, by name (anything else there is skipped).
  Result<std::vector<PackId>> pack_ids() const;
  // What a pack lists at its end (pack.h); nullopt for a pack of the first layout.
  Result<std::optional<std::vector<IndexEntry>>> read_pack_list(const PackId& pack) const;
  // Garbage collection: one new index file with exactly `entries`, then `old_files` removed.
  Result<void> replace_index(const std::vector<IndexEntry>& entries,
                             const std::vector<std::string>& old_files);
  // Damage found by a reader (verify): chunk `id`'s blob at its place in a pack failed its
  // integrity check. Kept as REPO/damaged/<pack>.<offset>. A mark only stops the chunk being
  // taken for present by a backup (holds_healthy): the next backup of data holding it stores
  // it again, and the index then prefers that copy. Reads and prune keep a marked entry while
  // no other copy exists, so a mark never deletes anything. False when `id` is not indexed.
  Result<bool> mark_damaged(const ChunkId& id) const;
  // Marks `location` as holding the damaged blob of `id` (prune carrying a mark to a copy).
  Result<void> mark_damaged_at(const ChunkLocation& location, const ChunkId& id) const;
  std::string damaged_dir() const { return m_path + "/damaged"; }
  // An index file found damaged where nothing may be removed (an append-only repository's
  // repair): marked as damaged/index-<name>, and no longer loaded.
  static std::string index_mark_name(const std::string& index_file) {
    return "index-" + index_file;
  }
  Result<void> mark_index_damaged(const std::string& index_file) const;
  // An index file a repair did not supersede moved to index-damaged/ (kept: it may be the only
  // record of data that failed to read for a while; prune leaves packs alone meanwhile).
  Result<void> set_index_file_aside(const std::string& index_file, bool missing_ok = false) const;
  // The names in index-damaged/.
  Result<std::vector<std::string>> set_aside_files() const;
  std::string set_aside_dir() const { return m_path + "/index-damaged"; }
  // The places marked damaged (damaged/'s names), read now.
  Result<std::set<std::string>> damaged_places() const;
  static std::string place_name(const ChunkLocation& location);
  // Whether `id` is indexed at a place not marked damaged, as of the last index load (a writer
  // reloads under its lock, so a backup's threads see the marks as of its start).
  bool holds_healthy(const ChunkId& id) const;
  // Whether every id of `ids` but holes is, as holds_healthy (one lock for the index).
  bool holds_all_healthy(std::span<const ChunkId> ids) const;
  // The same against the marks on disk now (for a caller whose repository was opened a while
  // ago: havend's sessions).
  Result<bool> holds_all_healthy_now(std::span<const ChunkId> ids) const;

  // A chunk's blob as stored (for copying between packs).
  Result<std::vector<uint8_t>> read_raw_blob(const ChunkLocation& location) const;
  Result<void> read_raw_blob_into(const ChunkLocation& location, std::vector<uint8_t>& blob) const;

  // In an append-only repository, makes a file that was just committed immutable (chattr +i)
  // where the file system and privileges allow; elsewhere only Haven's refusals protect it.
  Result<void> protect(const std::string& file) const;

  std::string packs_dir() const { return m_path + "/packs"; }
  std::string tmp_dir() const { return m_path + "/tmp"; }

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  Repository(Key, std::string path, RepoConfig config, std::optional<MasterKeys> keys,
             std::optional<store::Key> auth_key)
      : m_path(std::move(path)),
        m_config(std::move(config)),
        m_keys(std::move(keys)),
        m_auth_key(auth_key) {}

 private:
  static Result<std::unique_ptr<Repository>> open(const std::string& path,
                                                  const PassphraseSource& passphrase,
                                                  const MasterKeys* unlocked, bool load_index);
  Result<SnapshotHead> read_head_of(const std::string& id) const;
  Result<void> load_index();
  Result<void> load_index_into(ChunkIndex& index, std::set<std::string>& loaded,
                               const std::set<std::string>& damaged) const;
  Result<int> pack_fd(const PackId& pack) const;

  std::string m_path;
  RepoConfig m_config;
  std::optional<MasterKeys> m_keys;
  std::optional<store::Key> m_auth_key;  // unencrypted, version 3
  ChunkIndex m_index;
  std::set<std::string> m_index_files;  // loaded into m_index; one reload_index at a time
  // The places marked damaged as of the last load; changed only by (re)loading the index,
  // which a writer does under its lock, and read by that writer's threads.
  std::set<std::string> m_damaged;
  mutable Mutex m_packs_mutex;
  mutable std::map<PackId, UniqueFd> m_packs HAVEN_GUARDED_BY(m_packs_mutex);
};

// Where a backup's new chunks go, from several threads: each chunk is claimed once (so two
// threads never store the same new data), appended to the current pack, and the pack rotated
// at kPackTarget bytes. finish() commits the last pack and writes the backup's index file.
class ChunkWriter {
 public:
  static constexpr uint64_t kPackTarget = 64 << 20;

  explicit ChunkWriter(Repository& repository) : m_repository(repository) {}

  // True when the caller should store `id` (not in the repository, not claimed by another).
  bool claim(const ChunkId& id);
  Result<void> write(const ChunkId& id, std::span<const uint8_t> blob, uint32_t plain_size);
  Result<void> finish();

 private:
  Result<void> commit_pack() HAVEN_REQUIRES(m_mutex);

  Repository& m_repository;
  Mutex m_mutex;
  std::unordered_set<ChunkId, ChunkIdHash> m_claimed HAVEN_GUARDED_BY(m_mutex);
  std::optional<PackWriter> m_pack HAVEN_GUARDED_BY(m_mutex);
  std::vector<IndexEntry> m_entries HAVEN_GUARDED_BY(m_mutex);  // in committed packs
};

}  // namespace haven::store
