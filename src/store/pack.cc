#include "store/pack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "base/atomic_file.h"
#include "base/hex.h"
#include "base/sys.h"
#include "store/crypto.h"

namespace haven::store {

std::string pack_name(const PackId& id) {
  return to_hex(id.data(), id.size());
}

Result<PackId> parse_pack_name(std::string_view name) {
  PackId id;
  if (name.size() != 2 * id.size() || !from_hex(name, id.data(), id.size()) ||
      pack_name(id) != name)  // lower case only, as written
    return make_error("'{}' is not a pack's name (32 hex digits)", name);
  return id;
}

Result<PackWriter> PackWriter::create(std::string tmp_dir, std::string packs_dir, BlobCodec codec) {
  PackWriter writer;
  TRY(random_bytes(writer.m_id));
  writer.m_tmp_path = tmp_dir + "/pack-" + pack_name(writer.m_id);
  writer.m_packs_dir = std::move(packs_dir);
  writer.m_codec = codec;
  writer.m_fd = TRY(sys::open(writer.m_tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  TRY(sys::write_all(writer.m_fd.get(),
                     {reinterpret_cast<const uint8_t*>(kPackMagic), sizeof(kPackMagic)}));
  writer.m_size = sizeof(kPackMagic);
  return writer;
}

PackWriter::~PackWriter() {
  if (!m_committed && m_fd) (void)sys::remove_file(m_tmp_path);  // best effort
}

Result<ChunkLocation> PackWriter::append(const ChunkId& id, std::span<const uint8_t> blob,
                                         uint32_t plain_size) {
  if (blob.size() > UINT32_MAX) return make_error("a blob of {} bytes", blob.size());
  ChunkLocation location{m_id, m_size, static_cast<uint32_t>(blob.size()), plain_size};
  TRY(with_context(sys::write_all(m_fd.get(), blob), "{}", m_tmp_path));
  m_size += blob.size();
  m_entries.push_back({id, location});
  return location;
}

std::string PackWriter::final_path() const {
  std::string name = pack_name(m_id);
  return m_packs_dir + "/" + name.substr(0, 2) + "/" + name;
}

Result<void> PackWriter::commit() {
  auto list = TRY(encode_blob(m_codec, BlobKind::pack_contents, encode_index(m_entries), m_id));
  std::array<uint8_t, kPackEndBytes> end;
  uint64_t length = list.size();
  std::memcpy(end.data(), &length, 8);  // little-endian hosts only (x86)
  std::memcpy(end.data() + 8, kPackEndMagic, sizeof(kPackEndMagic));
  list.insert(list.end(), end.begin(), end.end());
  TRY(with_context(sys::write_all(m_fd.get(), list), "{}", m_tmp_path));
  m_size += list.size();
  TRY(sys::sync_all(m_fd.get(), m_tmp_path));
  std::string name = pack_name(m_id);
  std::string directory = m_packs_dir + "/" + name.substr(0, 2);
  if (::mkdir(directory.c_str(), 0755) == 0)
    TRY(fsync_directory(m_packs_dir));
  else if (errno != EEXIST)
    return errno_error("mkdir {}", directory);
  std::string final_path = this->final_path();
  TRY(sys::rename(m_tmp_path, final_path));
  m_committed = true;
  return fsync_directory(directory);
}

uint64_t pack_overhead_bytes(int fd, uint64_t size) {
  std::array<uint8_t, sizeof(kPackMagic)> magic{};
  std::array<uint8_t, kPackEndBytes> end{};
  if (size < magic.size() + end.size() || !sys::read_at(fd, magic, 0) ||
      std::memcmp(magic.data(), kPackMagic, magic.size()) != 0 ||
      !sys::read_at(fd, end, size - end.size()) ||
      std::memcmp(end.data() + 8, kPackEndMagic, sizeof(kPackEndMagic)) != 0)
    return std::min<uint64_t>(size, magic.size());
  uint64_t length;
  std::memcpy(&length, end.data(), 8);
  return std::min(size, magic.size() + end.size() + std::min(length, size));
}

Result<std::optional<std::vector<IndexEntry>>> read_pack_contents(const BlobCodec& codec, int fd,
                                                                  const PackId& id, uint64_t size,
                                                                  uint32_t chunk_size) {
  std::array<uint8_t, sizeof(kPackMagic)> magic{};
  if (size < magic.size()) return make_error("a pack of {} bytes has no magic", size);
  TRY(sys::read_at(fd, magic, 0));
  if (std::memcmp(magic.data(), kListlessPackMagic, magic.size()) == 0)
    return std::optional<std::vector<IndexEntry>>();
  if (std::memcmp(magic.data(), kPackMagic, magic.size()) != 0)
    return make_error("not a Haven pack (bad magic)");
  std::array<uint8_t, kPackEndBytes> end{};
  if (size < magic.size() + end.size())
    return make_error("a pack of {} bytes cut short before its list of blobs", size);
  TRY(sys::read_at(fd, end, size - end.size()));
  if (std::memcmp(end.data() + 8, kPackEndMagic, sizeof(kPackEndMagic)) != 0)
    return make_error("the pack does not end with its list of blobs (cut short or damaged)");
  uint64_t length;
  std::memcpy(&length, end.data(), 8);
  if (length > size - end.size() - magic.size())
    return make_error("the pack's list of blobs claims {} bytes of a {}-byte pack", length, size);
  const uint64_t blobs_end = size - end.size() - length;
  // Each entry lists a blob of at least a header: the list can be no longer than that, nor
  // than a metadata file may be (a sparse file can claim any size without holding it).
  const uint64_t most_entries = std::min<uint64_t>((blobs_end - magic.size()) / kBlobHeaderBytes,
                                                   kMaxPackListBytes / kIndexEntryBytes);
  if (length > max_blob_bytes(most_entries * kIndexEntryBytes))
    return make_error("the pack's list of blobs claims {} bytes, more than its blobs can need",
                      length);
  std::vector<uint8_t> blob(length);
  TRY(sys::read_at(fd, blob, blobs_end));
  auto plain =
      decode_blob(codec, BlobKind::pack_contents, blob, most_entries * kIndexEntryBytes, id);
  if (!plain) return std::unexpected(std::move(plain).error().with_context("list of blobs"));
  auto entries = TRY(with_context(decode_index(*plain), "list of blobs"));
  for (size_t i = 0; i < entries.size(); ++i) {
    const ChunkLocation& at = entries[i].location;
    if (at.pack != id || at.offset < magic.size() || at.offset > blobs_end ||
        at.length > blobs_end - at.offset || at.length < kBlobHeaderBytes || at.plain_size == 0 ||
        at.plain_size > chunk_size || at.length > max_blob_bytes(at.plain_size))
      return make_error("the pack's list of blobs: entry {} names a blob no chunk makes here", i);
  }
  return std::optional(std::move(entries));
}

}  // namespace haven::store
