// Fuzzes the snapshot manifest and index parsers directly (below the blob layer, so the fuzzer
// reaches their structure without having to forge compression). A manifest that parses must
// be self-consistent: as many chunk ids as its size and chunk size need; a head (version 2)
// re-encodes to one that parses the same.
#include <cstdlib>

#include "store/chunk_index.h"
#include "store/manifest.h"

using namespace haven::store;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  if (auto snapshot = decode_manifest(input)) {
    uint64_t expected =
        snapshot->size / snapshot->chunk_size + (snapshot->size % snapshot->chunk_size != 0);
    if (snapshot->chunks.size() != expected) std::abort();
    // What parses re-encodes to something that parses the same.
    auto again = decode_manifest(encode_manifest(*snapshot));
    if (!again || again->chunks != snapshot->chunks || again->nvram != snapshot->nvram)
      std::abort();
  }
  if (auto head = decode_manifest_head(input)) {
    if (head->chunk_count() > kMaxReadableManifestChunks) std::abort();
    auto again = decode_manifest_head(encode_manifest_head(*head));
    if (!again || again->size != head->size || again->nvram != head->nvram ||
        again->zero_chunks != head->zero_chunks)
      std::abort();
  }
  if (auto entries = decode_index(input))
    if (entries->size() * kIndexEntryBytes != size) std::abort();
  return 0;
}
