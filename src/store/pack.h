#pragma once

// Pack files: many encoded chunk blobs back to back after an 8-byte magic, so a backup of a
// disk makes a few dozen files instead of tens of thousands and every fsync covers many
// chunks. A pack is written under tmp/, fsynced and renamed into packs/XX/ whole, so packs/
// only ever holds complete packs. Which chunk is where is recorded in index files.

#include <string>

#include "base/error.h"
#include "base/unique_fd.h"
#include "store/chunk_index.h"

namespace haven::store {

inline constexpr char kPackMagic[8] = {'H', 'V', 'N', 'P', 'A', 'C', 'K', '1'};

std::string pack_name(const PackId& id);  // 32 hex digits

class PackWriter {
 public:
  // A new pack in `tmp_dir`, to be committed into `packs_dir`/XX/.
  static Result<PackWriter> create(std::string tmp_dir, std::string packs_dir);
  PackWriter(PackWriter&&) = default;
  PackWriter& operator=(PackWriter&&) = default;
  ~PackWriter();

  // Appends a blob; returns its offset in the pack.
  Result<uint64_t> append(std::span<const uint8_t> blob);
  uint64_t size() const { return m_size; }
  const PackId& id() const { return m_id; }
  // Where commit() puts the pack.
  std::string final_path() const;
  // Makes the pack durable under its final name.
  Result<void> commit();

 private:
  PackWriter() = default;

  PackId m_id{};
  std::string m_tmp_path, m_packs_dir;
  UniqueFd m_fd;
  uint64_t m_size = 0;
  bool m_committed = false;
};

}  // namespace haven::store
