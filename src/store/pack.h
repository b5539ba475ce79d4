#pragma once

// Pack files: many encoded chunk blobs back to back after an 8-byte magic, so a backup of a
// disk makes a few dozen files instead of tens of thousands and every fsync covers many
// chunks. A pack is written under tmp/, fsynced and renamed into packs/XX/ whole, so packs/
// only ever holds complete packs. Which chunk is where is recorded in index files, and (since
// "HVNPACK2") in the pack itself: it ends with a list of its blobs, a blob of its own (sealed
// or tagged as the repository's metadata is, bound to the pack's id), then 16 bytes: that
// blob's length and "HVNPLIST". Index files can therefore be rebuilt from such packs
// (`haven repo repair`) as long as their lists are intact. Packs of the first layout
// ("HVNPACK1") have no list.

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "store/blob.h"
#include "store/chunk_index.h"

namespace haven::store {

inline constexpr char kPackMagic[8] = {'H', 'V', 'N', 'P', 'A', 'C', 'K', '2'};
inline constexpr char kListlessPackMagic[8] = {'H', 'V', 'N', 'P', 'A', 'C', 'K', '1'};
inline constexpr char kPackEndMagic[8] = {'H', 'V', 'N', 'P', 'L', 'I', 'S', 'T'};
inline constexpr size_t kPackEndBytes = 16;
// The longest list of blobs read (16 Mi entries: more than a 64 MiB pack of the smallest blobs).
inline constexpr uint64_t kMaxPackListBytes = uint64_t{1} << 30;

std::string pack_name(const PackId& id);  // 32 hex digits
// The pack a file name names; an error for anything else.
Result<PackId> parse_pack_name(std::string_view name);

class PackWriter {
 public:
  // A new pack in `tmp_dir`, to be committed into `packs_dir`/XX/; its list of blobs is
  // encoded with `codec` (whose keys must outlive the writer).
  static Result<PackWriter> create(std::string tmp_dir, std::string packs_dir, BlobCodec codec);
  PackWriter(PackWriter&&) = default;
  PackWriter& operator=(PackWriter&&) = default;
  ~PackWriter();

  // Appends chunk `id`'s blob (of `plain_size` bytes of data); returns where it is.
  Result<ChunkLocation> append(const ChunkId& id, std::span<const uint8_t> blob,
                               uint32_t plain_size);
  uint64_t size() const { return m_size; }
  const PackId& id() const { return m_id; }
  // What the pack holds so far.
  const std::vector<IndexEntry>& entries() const { return m_entries; }
  // Where commit() puts the pack.
  std::string final_path() const;
  // Ends the pack with its list of blobs and makes it durable under its final name.
  Result<void> commit();

 private:
  PackWriter() = default;

  PackId m_id{};
  std::string m_tmp_path, m_packs_dir;
  BlobCodec m_codec;
  UniqueFd m_fd;
  uint64_t m_size = 0;
  std::vector<IndexEntry> m_entries;
  bool m_committed = false;
};

// The bytes of a pack of `size` bytes that hold no blob: its magic and, if it has one, its list
// (what prune must not count as garbage). Best effort: a pack it cannot read has only a magic.
uint64_t pack_overhead_bytes(int fd, uint64_t size);

// The blobs a pack of `size` bytes lists at its end, checked against the pack (each inside
// the blobs' area, of a length a chunk of at most `chunk_size` bytes can take); nullopt for a
// pack of the first layout, which lists nothing. Treats the file as hostile.
Result<std::optional<std::vector<IndexEntry>>> read_pack_contents(const BlobCodec& codec, int fd,
                                                                  const PackId& id, uint64_t size,
                                                                  uint32_t chunk_size);

}  // namespace haven::store
