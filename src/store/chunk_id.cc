#include "store/chunk_id.h"

namespace haven::store {

std::string ChunkId::hex() const {
  return to_hex(bytes.data(), bytes.size());
}

Result<ChunkId> ChunkId::from_hex(std::string_view text) {
  ChunkId id;
  TRY(haven::from_hex(text, id.bytes.data(), id.bytes.size()));
  return id;
}

}  // namespace haven::store
