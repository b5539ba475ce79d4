#include "store/repository.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/atomic_file.h"
#include "base/bytes.h"
#include "base/sys.h"
#include "store/key_file.h"
#include "store/manifest_file.h"

namespace haven::store {
namespace {

constexpr size_t kMaxMetadataFile = 1u << 30;  // manifests of very large disks

bool is_temporary(const std::string& name) {
  return name.find(".tmp-") != std::string::npos;
}

std::string auth_key_file(const std::string& repository) {
  return repository + "/keys/auth";
}

// keys/auth: the key an unencrypted repository of version 3 tags its metadata under, in hex.
Result<store::Key> read_auth_key(const std::string& repository) {
  std::string file = auth_key_file(repository);
  auto text = sys::read_file(file, 256);
  if (!text) {
    if (text.error().code() == ENOENT)
      return make_error(
          "{} is missing: without it nothing in this repository can be authenticated (restore "
          "it from a copy of the repository)",
          file);
    return std::unexpected(std::move(text).error());
  }
  std::string hex(text->begin(), text->end());
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
  store::Key key;
  if (hex.size() != 2 * key.size() || !from_hex(hex, key.data(), key.size()).has_value())
    return make_error("{}: not a key of {} hex digits", file, 2 * key.size());
  return key;
}

}  // namespace

Result<void> Repository::init(const std::string& path, const InitOptions& options) {
  if (options.encrypt && options.passphrase.empty())
    return make_error("an encrypted repository needs a passphrase");
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno != EEXIST) return errno_error("create {}", path);
    auto names = TRY(sys::list_directory(path));
    if (!names.empty())
      return make_error(
          "{} already exists and is not empty (a repository needs a new or empty "
          "directory)",
          path);
  }
  RepoConfig config;
  std::array<uint8_t, 16> id;
  TRY(random_bytes(id));
  config.id = to_hex(id.data(), id.size());
  config.chunk_size = options.chunk_size;
  config.encrypted = options.encrypt;
  config.append_only = options.append_only;
  config.compression_level = options.compression_level;
  config.version = options.version;
  // The rules a stored config is held to, checked before anything is written.
  TRY(with_context(repo_config_from_json(repo_config_to_json(config)), "{}", path));
  for (const char* sub : {"/keys", "/packs", "/index", "/snapshots", "/tmp"})
    TRY(sys::make_directory(path + sub, 0755));
  if (options.encrypt) {
    MasterKeys keys;
    TRY(random_bytes(keys.data));
    TRY(random_bytes(keys.id));
    std::string key_file = TRY(make_key_file(keys, options.passphrase, options.kdf));
    // The key file is its owner's alone whatever the umask (the passphrase guards it, but an
    // offline guess at it needs the file).
    TRY(write_file_atomic(path + "/keys/main.json", bytes_of(key_file), true, 0600));
  } else if (config.version >= 3) {
    store::Key auth;
    TRY(random_bytes(auth));
    TRY(write_file_atomic(auth_key_file(path), bytes_of(to_hex(auth.data(), auth.size()) + "\n"),
                          true, 0600));
  }
  // Last: a directory without config.json is not a repository yet.
  TRY(write_file_atomic(path + "/config.json", bytes_of(repo_config_to_json(config)), true));
  if (config.append_only) {  // where the file system and privileges allow (see protect())
    TRY(sys::set_immutable(path + "/config.json", true));
    if (options.encrypt) TRY(sys::set_immutable(path + "/keys/main.json", true));
    if (!options.encrypt && config.version >= 3) TRY(sys::set_immutable(auth_key_file(path), true));
  }
  return fsync_directory(path);
}

Result<std::unique_ptr<Repository>> Repository::open(const std::string& path,
                                                     const PassphraseSource& passphrase) {
  return open(path, passphrase, nullptr, true);
}

Result<std::unique_ptr<Repository>> Repository::open_without_index(
    const std::string& path, const PassphraseSource& passphrase) {
  return open(path, passphrase, nullptr, false);
}

Result<std::unique_ptr<Repository>> Repository::open_unlocked(const std::string& path,
                                                              const MasterKeys& keys) {
  return open(path, nullptr, &keys, true);
}

// A repository holds no symbolic link: one in place of its lock, tmp/ or another of its
// entries would make whoever writes it (havend, as root) write, truncate or delete where the
// link points. Refused before anything in it is read.
static Result<void> refuse_links(const std::string& path) {
  for (const char* entry : {"config.json", "lock", "holds.lock", "keys", "packs", "index",
                            "snapshots", "tmp", "holds", "damaged"}) {
    struct stat st {};
    std::string inside = path + "/" + entry;
    if (::lstat(inside.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
      return make_error("{} is a symbolic link; a repository holds none (refusing to follow it)",
                        inside);
  }
  return {};
}

Result<std::unique_ptr<Repository>> Repository::open(const std::string& path,
                                                     const PassphraseSource& passphrase,
                                                     const MasterKeys* unlocked, bool load_index) {
  struct stat st = TRY(with_context(sys::stat_path(path), "repository"));
  if (!S_ISDIR(st.st_mode)) return make_error("repository {}: not a directory", path);
  TRY(refuse_links(path));
  auto text = sys::read_file(path + "/config.json", 1 << 20);
  if (!text) {
    if (text.error().code() == ENOENT)
      return make_error(
          "{} is not a Haven repository (no config.json; create one with `haven "
          "repo init`)",
          path);
    return std::unexpected(std::move(text).error());
  }
  auto config = repo_config_from_json(
      std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
  if (!config)
    return std::unexpected(std::move(config).error().with_context(path + "/config.json"));
  std::optional<MasterKeys> keys;
  if (config->encrypted && unlocked) {
    keys = *unlocked;  // handed over by a process that derived them (store/key_handoff.h)
  } else if (config->encrypted) {
    auto key_text = TRY(sys::read_file(path + "/keys/main.json", 1 << 20));
    if (!passphrase) return make_error("{} is encrypted: a passphrase is needed", path);
    std::string secret = TRY(passphrase());
    auto opened = unlock_key_file(
        std::string_view(reinterpret_cast<const char*>(key_text.data()), key_text.size()), secret);
    if (!opened) return std::unexpected(std::move(opened).error().with_context(path));
    keys = *opened;
  }
  std::optional<store::Key> auth_key;
  if (!config->encrypted && config->version >= 3) {
    auth_key = TRY(read_auth_key(path));
  } else if (!config->encrypted && ::access(auth_key_file(path).c_str(), F_OK) == 0) {
    return make_error(
        "{} has an authentication key (keys/auth) but its config.json says version {}: the "
        "config was changed, and the repository cannot be trusted as it is",
        path, config->version);
  }
  auto repository = std::make_unique<Repository>(Key(), path, std::move(*config), keys, auth_key);
  if (auto loaded = load_index ? repository->load_index() : Result<void>(); !loaded) {
    if (loaded.error().code() != 0) return std::unexpected(std::move(loaded).error());
    return make_error("{} (`haven repo repair` rebuilds the index from the packs)",
                      loaded.error().message());
  }
  return repository;
}

ChunkId Repository::chunk_id(std::span<const uint8_t> plain) const {
  return m_keys ? hmac_sha256(m_keys->id, plain) : sha256(plain);
}

Result<WriterLock> Repository::lock_for_writing() {
  std::string lock_path = m_path + "/lock";
  TRY(refuse_links(m_path));  // again: the writer may come long after the open
  auto fd = TRY(sys::open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return errno_error("lock {}", lock_path);
    auto holder = sys::read_file(lock_path, 64);
    std::string pid = holder ? std::string(holder->begin(), holder->end()) : "?";
    return make_error("{} is locked by another writer (pid {})", m_path, pid);
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd.get(), 0) == 0) (void)::pwrite(fd.get(), pid.data(), pid.size(), 0);
  // Folders a copy may have dropped while empty (git, some sync tools and object stores keep
  // no empty directory): a writer needs them.
  for (const char* sub : {"/packs", "/index", "/snapshots", "/tmp"})
    TRY(sys::ensure_directory(m_path + sub, 0755));
  // Whatever is in tmp/ now was left by a writer that died.
  if (auto names = sys::list_directory(tmp_dir()))
    for (const std::string& name : *names)
      (void)sys::remove_file(tmp_dir() + "/" + name, true);  // best effort: tried again next time
  return WriterLock(std::move(fd));
}

std::string Repository::place_name(const ChunkLocation& location) {
  return pack_name(location.pack) + "." + std::to_string(location.offset);
}

Result<std::set<std::string>> Repository::damaged_places() const {
  auto names = sys::list_directory(damaged_dir());
  if (!names) {
    if (names.error().code() == ENOENT) return std::set<std::string>();  // none ever found
    return std::unexpected(std::move(names).error());
  }
  std::set<std::string> places;
  for (std::string& name : *names)
    if (!is_temporary(name)) places.insert(std::move(name));
  return places;
}

Result<void> Repository::mark_damaged_at(const ChunkLocation& location, const ChunkId& id) const {
  TRY(sys::ensure_directory(damaged_dir(), 0755));
  return write_file_atomic(damaged_dir() + "/" + place_name(location), bytes_of(id.hex() + "\n"));
}

Result<void> Repository::mark_index_damaged(const std::string& index_file) const {
  TRY(sys::ensure_directory(damaged_dir(), 0755));
  return write_file_atomic(damaged_dir() + "/" + index_mark_name(index_file),
                           bytes_of(index_file + "\n"));
}

Result<void> Repository::set_index_file_aside(const std::string& index_file,
                                              bool missing_ok) const {
  TRY(sys::ensure_directory(set_aside_dir(), 0755));
  if (auto moved = sys::rename(m_path + "/index/" + index_file, set_aside_dir() + "/" + index_file);
      !moved) {
    if (missing_ok && moved.error().code() == ENOENT) return {};
    return moved;
  }
  TRY(fsync_directory(set_aside_dir()));
  return fsync_directory(m_path + "/index");
}

Result<bool> Repository::mark_damaged(const ChunkId& id) const {
  auto location = m_index.find(id);
  if (!location) return false;
  TRY(mark_damaged_at(*location, id));
  return true;
}

bool Repository::holds_healthy(const ChunkId& id) const {
  auto location = m_index.find(id);
  return location && (m_damaged.empty() || !m_damaged.contains(place_name(*location)));
}

bool Repository::holds_all_healthy(std::span<const ChunkId> ids) const {
  if (m_damaged.empty()) return m_index.contains_all(ids, &Snapshot::is_hole);
  return std::ranges::all_of(
      ids, [&](const ChunkId& id) { return Snapshot::is_hole(id) || holds_healthy(id); });
}

Result<bool> Repository::holds_all_healthy_now(std::span<const ChunkId> ids) const {
  auto marks = TRY(damaged_places());
  if (marks.empty()) return m_index.contains_all(ids, &Snapshot::is_hole);
  return std::ranges::all_of(ids, [&](const ChunkId& id) {
    if (Snapshot::is_hole(id)) return true;
    auto location = m_index.find(id);
    return location && !marks.contains(place_name(*location));
  });
}

Result<void> Repository::load_index() {
  m_damaged = TRY(damaged_places());
  return load_index_into(m_index, m_index_files, m_damaged);
}

Result<void> Repository::load_index_into(ChunkIndex& index, std::set<std::string>& loaded,
                                         const std::set<std::string>& damaged) const {
  for (const std::string& name : TRY(index_files())) {
    if (loaded.contains(name)) continue;  // loaded before (index files never change)
    if (!damaged.empty() && damaged.contains(index_mark_name(name))) continue;  // set aside
    auto entries = TRY(read_index_file(name));
    if (damaged.empty())
      index.add(entries);
    else  // a copy stored again after damage was found takes the damaged one's place
      index.add(entries, [&](const ChunkLocation& at) { return damaged.contains(place_name(at)); });
    loaded.insert(name);
  }
  return {};
}

Result<std::vector<std::string>> Repository::set_aside_files() const {
  auto names = sys::list_directory(set_aside_dir());
  if (!names && names.error().code() == ENOENT) return std::vector<std::string>();
  if (names) std::erase_if(*names, is_temporary);
  return names;
}

Result<std::vector<IndexEntry>> Repository::read_index_file(const std::string& name,
                                                            bool set_aside) const {
  std::string file = (set_aside ? set_aside_dir() : m_path + "/index") + "/" + name;
  auto bytes = TRY(sys::read_file(file, kMaxMetadataFile));
  auto plain = decode_blob(codec(), BlobKind::index, bytes, kMaxMetadataFile, bytes_of(name));
  if (!plain) return std::unexpected(std::move(plain).error().with_context(file));
  auto entries = decode_index(*plain);
  if (!entries) return std::unexpected(std::move(entries).error().with_context(file));
  // An index is read before any pack: what it claims of a blob's size is what a read will
  // allocate, so it must fit a chunk of this repository.
  const uint32_t chunk_size = m_config.chunk_size;
  for (size_t i = 0; i < entries->size(); ++i) {
    const ChunkLocation& at = (*entries)[i].location;
    if (at.plain_size == 0 || at.plain_size > chunk_size ||
        at.length > max_blob_bytes(at.plain_size) || at.length < kBlobHeaderBytes)
      return make_error(
          "{}: entry {} claims a blob of {} bytes holding {}, which no chunk of {} "
          "bytes makes (the index is damaged)",
          file, i, at.length, at.plain_size, chunk_size);
  }
  return std::move(*entries);
}

Result<std::vector<PackId>> Repository::pack_ids() const {
  std::vector<PackId> packs;
  for (const std::string& prefix : TRY(sys::list_directory(packs_dir()))) {
    auto names = sys::list_directory(packs_dir() + "/" + prefix);
    if (!names) {
      if (names.error().code() == ENOTDIR) continue;
      return std::unexpected(std::move(names).error());
    }
    for (const std::string& name : *names)
      if (auto id = parse_pack_name(name); id && name.starts_with(prefix)) packs.push_back(*id);
  }
  std::ranges::sort(packs);
  return packs;
}

Result<std::optional<std::vector<IndexEntry>>> Repository::read_pack_list(
    const PackId& pack) const {
  // Its own descriptor, closed at once: a repair walks every pack.
  std::string name = pack_name(pack);
  UniqueFd fd =
      TRY(sys::open(packs_dir() + "/" + name.substr(0, 2) + "/" + name, O_RDONLY | O_CLOEXEC));
  struct stat info = TRY(sys::stat_fd(fd.get(), name));
  return with_context(read_pack_contents(codec(), fd.get(), pack,
                                         static_cast<uint64_t>(info.st_size), m_config.chunk_size),
                      "pack {}", name);
}

Result<void> Repository::reload_index() {
  auto names = TRY(index_files());
  std::set<std::string> present(names.begin(), names.end());
  bool removed = std::ranges::any_of(
      m_index_files, [&](const std::string& name) { return !present.contains(name); });
  auto damaged = TRY(damaged_places());
  // Garbage collection rewrote the index, or a reader found damage: start over, swapped in
  // at once.
  if (removed || damaged != m_damaged) {
    ChunkIndex fresh;
    std::set<std::string> loaded;
    TRY(load_index_into(fresh, loaded, damaged));
    m_index.replace_with(std::move(fresh));
    m_index_files = std::move(loaded);
    m_damaged = std::move(damaged);
    return {};
  }
  return load_index_into(m_index, m_index_files, m_damaged);  // the files added since
}

Result<std::vector<std::string>> Repository::index_files() const {
  auto names = TRY(sys::list_directory(m_path + "/index"));
  std::erase_if(names, is_temporary);
  return names;
}

Result<void> Repository::replace_index(const std::vector<IndexEntry>& entries,
                                       const std::vector<std::string>& old_files) {
  m_index.clear();
  m_index_files.clear();
  TRY(write_index(entries));
  for (const std::string& name : old_files) TRY(sys::remove_file(m_path + "/index/" + name, true));
  return fsync_directory(m_path + "/index");
}

Result<void> Repository::write_index(const std::vector<IndexEntry>& entries) {
  if (entries.empty()) return {};
  std::array<uint8_t, 16> id;
  TRY(random_bytes(id));
  std::string name = to_hex(id.data(), id.size());
  auto blob = TRY(encode_blob(codec(), BlobKind::index, encode_index(entries), bytes_of(name)));
  TRY(write_file_atomic(m_path + "/index/" + name, blob, true));
  TRY(protect(m_path + "/index/" + name));
  if (m_damaged.empty())
    m_index.add(entries);
  else  // a chunk stored again takes its damaged copy's place
    m_index.add(entries,
                [&](const ChunkLocation& at) { return m_damaged.contains(place_name(at)); });
  m_index_files.insert(name);
  return {};
}

Result<int> Repository::pack_fd(const PackId& pack) const {
  MutexLock lock(m_packs_mutex);
  auto found = m_packs.find(pack);
  if (found != m_packs.end()) return found->second.get();
  std::string name = pack_name(pack);
  auto fd =
      TRY(sys::open(packs_dir() + "/" + name.substr(0, 2) + "/" + name, O_RDONLY | O_CLOEXEC));
  int raw = fd.get();
  m_packs.emplace(pack, std::move(fd));
  return raw;
}

Result<void> Repository::read_raw_blob_into(const ChunkLocation& location,
                                            std::vector<uint8_t>& blob) const {
  auto fd = pack_fd(location.pack);
  if (!fd)
    return std::unexpected(std::move(fd).error().with_context(
        fmt::format("pack {} at {}", pack_name(location.pack), location.offset)));
  if (location.length > max_blob_bytes(m_config.chunk_size))
    return make_error("pack {} at {}: a blob of {} bytes is more than a chunk can take",
                      pack_name(location.pack), location.offset, location.length);
  blob.resize(location.length);
  TRY(with_context(sys::read_at(*fd, blob, location.offset), "pack {}", pack_name(location.pack)));
  return {};
}

Result<std::vector<uint8_t>> Repository::read_raw_blob(const ChunkLocation& location) const {
  std::vector<uint8_t> blob;
  TRY(read_raw_blob_into(location, blob));
  return blob;
}

Result<void> Repository::read_chunk_into(const ChunkId& id, std::span<uint8_t> plain) const {
  auto location = m_index.find(id);
  if (!location) return make_error("chunk {} is not in the repository", id.hex());
  return read_chunk_at_into({id, *location}, plain);
}

Result<void> Repository::read_chunk_at_into(const IndexEntry& entry,
                                            std::span<uint8_t> plain) const {
  const ChunkLocation* location = &entry.location;
  const ChunkId& id = entry.id;
  auto where = [&] {
    return fmt::format("chunk {} (pack {} at {})", id.hex().substr(0, 16),
                       pack_name(location->pack), location->offset);
  };
  if (location->plain_size != plain.size())
    return make_error("{}: holds {} bytes, {} expected", where(), location->plain_size,
                      plain.size());
  // The stored form is scratch, kept per thread: a restore allocates nothing per chunk.
  thread_local std::vector<uint8_t> blob;
  if (auto read = read_raw_blob_into(*location, blob); !read)
    return std::unexpected(std::move(read).error().with_context(where()));
  if (auto decoded = decode_blob_into(codec(), BlobKind::chunk, blob, id.bytes, plain); !decoded)
    return std::unexpected(std::move(decoded).error().with_context(where()));
  if (chunk_id(plain) != id) return make_error("{}: contents do not match the id", where());
  return {};
}

Result<std::vector<uint8_t>> Repository::read_chunk(const ChunkId& id) const {
  auto location = m_index.find(id);
  if (!location) return make_error("chunk {} is not in the repository", id.hex());
  if (location->plain_size > m_config.chunk_size)
    return make_error("chunk {} claims {} bytes, more than the repository's chunk size",
                      id.hex().substr(0, 16), location->plain_size);
  std::vector<uint8_t> plain(location->plain_size);
  TRY(read_chunk_into(id, plain));
  return plain;
}

Result<void> Repository::protect(const std::string& file) const {
  if (!m_config.append_only) return {};
  TRY(sys::set_immutable(file, true));
  return {};
}

Result<void> Repository::write_snapshot(Snapshot& snapshot) {
  std::array<uint8_t, 8> id;
  TRY(random_bytes(id));
  snapshot.id = to_hex(id.data(), id.size());
  auto file = TRY(encode_manifest_file(codec(), snapshot, m_config.version));
  TRY(write_file_atomic(m_path + "/snapshots/" + snapshot.id, file, true));
  return protect(m_path + "/snapshots/" + snapshot.id);
}

Result<Snapshot> Repository::read_snapshot(const std::string& id) const {
  auto bytes = TRY(sys::read_file(m_path + "/snapshots/" + id, kMaxMetadataFile));
  return with_context(decode_manifest_file(codec(), id, bytes, m_config.version), "snapshot {}",
                      id);
}

Result<SnapshotHead> Repository::read_snapshot_head(const std::string& id) const {
  return with_context(read_head_of(id), "snapshot {}", id);
}

Result<SnapshotHead> Repository::read_head_of(const std::string& id) const {
  std::string file = m_path + "/snapshots/" + id;
  UniqueFd fd = TRY(sys::open(file, O_RDONLY | O_CLOEXEC));
  struct stat info = TRY(sys::stat_fd(fd.get(), file));
  auto size = static_cast<uint64_t>(info.st_size);
  if (size > kMaxMetadataFile)
    return make_error("{}: {} bytes, more than a manifest may take", file, size);
  std::array<uint8_t, kManifestFrameBytes> start{};
  auto at_start = std::span(start).first(std::min<uint64_t>(size, start.size()));
  TRY(with_context(sys::read_at(fd.get(), at_start, 0), "read {}", file));
  uint64_t extent = TRY(manifest_head_extent(at_start, size, m_config.version));
  std::vector<uint8_t> bytes(extent);
  TRY(with_context(sys::read_at(fd.get(), bytes, 0), "read {}", file));
  return decode_manifest_file_head(codec(), id, bytes, m_config.version);
}

Result<std::vector<std::string>> Repository::snapshot_ids() const {
  auto names = TRY(sys::list_directory(m_path + "/snapshots"));
  std::erase_if(names, is_temporary);
  return names;
}

Result<std::string> Repository::resolve_snapshot_id(const std::string& id_or_prefix) const {
  if (id_or_prefix.empty()) return make_error("an empty snapshot id");
  std::vector<std::string> matches;
  for (const std::string& id : TRY(snapshot_ids()))
    if (id.starts_with(id_or_prefix)) matches.push_back(id);
  if (matches.empty()) return make_error("no snapshot {} in {}", id_or_prefix, m_path);
  if (matches.size() > 1)
    return make_error("snapshot id {} is ambiguous ({} match)", id_or_prefix, matches.size());
  return matches.front();
}

Result<Snapshot> Repository::find_snapshot(const std::string& id_or_prefix) const {
  return read_snapshot(TRY(resolve_snapshot_id(id_or_prefix)));
}

Result<SnapshotHead> Repository::find_snapshot_head(const std::string& id_or_prefix) const {
  return read_snapshot_head(TRY(resolve_snapshot_id(id_or_prefix)));
}

namespace {

// Every snapshot `read` can read, oldest first (ties by id); the others' errors go to
// `problems`, or the first fails the whole list when there is nowhere to put them.
template <typename Head, typename Read>
Result<std::vector<Head>> list_with(const std::vector<std::string>& ids, Read read,
                                    std::vector<std::string>* problems) {
  std::vector<Head> snapshots;
  for (const std::string& id : ids) {
    auto snapshot = read(id);
    if (snapshot)
      snapshots.push_back(std::move(*snapshot));
    else if (problems)
      problems->push_back(snapshot.error().message());
    else
      return std::unexpected(std::move(snapshot).error());
  }
  std::stable_sort(snapshots.begin(), snapshots.end(),
                   [](const Head& a, const Head& b) { return a.time < b.time; });
  return snapshots;
}

}  // namespace

Result<std::vector<Snapshot>> Repository::list_snapshots(std::vector<std::string>* problems) const {
  return list_with<Snapshot>(
      TRY(snapshot_ids()), [this](const std::string& id) { return read_snapshot(id); }, problems);
}

Result<std::vector<SnapshotHead>> Repository::list_snapshot_heads(
    std::vector<std::string>* problems) const {
  return list_with<SnapshotHead>(
      TRY(snapshot_ids()), [this](const std::string& id) { return read_snapshot_head(id); },
      problems);
}

bool ChunkWriter::claim(const ChunkId& id) {
  if (m_repository.holds_healthy(id)) return false;  // a damaged copy is stored again
  MutexLock lock(m_mutex);
  return m_claimed.insert(id).second;
}

Result<void> ChunkWriter::write(const ChunkId& id, std::span<const uint8_t> blob,
                                uint32_t plain_size) {
  std::optional<PackWriter> full;
  {
    MutexLock lock(m_mutex);
    if (!m_pack)
      m_pack.emplace(TRY(PackWriter::create(m_repository.tmp_dir(), m_repository.packs_dir(),
                                            m_repository.codec())));
    TRY(m_pack->append(id, blob, plain_size));
    if (m_pack->size() < kPackTarget) return {};
    // A full pack is committed (fsync, rename) outside the lock: the other threads go on
    // filling a new one meanwhile instead of waiting for the disk.
    full.emplace(std::move(*m_pack));
    m_pack.reset();
  }
  TRY(full->commit());
  TRY(m_repository.protect(full->final_path()));
  MutexLock lock(m_mutex);
  m_entries.insert(m_entries.end(), full->entries().begin(), full->entries().end());
  return {};
}

Result<void> ChunkWriter::commit_pack() {
  if (!m_pack) return {};
  TRY(m_pack->commit());
  TRY(m_repository.protect(m_pack->final_path()));
  m_entries.insert(m_entries.end(), m_pack->entries().begin(), m_pack->entries().end());
  m_pack.reset();
  return {};
}

Result<void> ChunkWriter::finish() {
  MutexLock lock(m_mutex);
  TRY(commit_pack());
  TRY(m_repository.write_index(m_entries));
  m_entries.clear();
  return {};
}

}  // namespace haven::store
