// Fuzzes the repository's blob decoder (what every chunk, index and manifest file goes
// through) with and without keys, then the index and manifest parsers on whatever decodes,
// and the input as a whole snapshot file (either layout, store/manifest_file.h).
// A repository's files are untrusted input: damage or an attacker must give an error, never
// a crash, an over-allocation or a blob that decodes to more than it may.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "store/blob.h"
#include "store/chunk_index.h"
#include "store/manifest.h"
#include "store/manifest_file.h"

using namespace haven::store;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const MasterKeys keys{};
  std::span<const uint8_t> input(data, size);
  for (const MasterKeys* with : {static_cast<const MasterKeys*>(nullptr), &keys}) {
    BlobCodec codec{with, 3};
    for (BlobKind kind :
         {BlobKind::chunk, BlobKind::index, BlobKind::manifest, BlobKind::chunk_list}) {
      auto plain = decode_blob(codec, kind, input, 1 << 20);
      if (!plain) continue;
      if (plain->size() > (1 << 20)) std::abort();
      if (kind == BlobKind::index) (void)decode_index(*plain);
      if (kind == BlobKind::manifest) (void)decode_manifest(*plain);
    }
    // As snapshots/<id> (the seeds' id): a file that reads whole reads its head alike.
    const std::string id = "0123456789abcdef";
    auto extent = manifest_head_extent(input.first(std::min(size, kManifestFrameBytes)), size, 1);
    // Version 1 takes either layout.
    auto head = extent ? decode_manifest_file_head(codec, id, input.first(*extent), 1)
                       : haven::Result<SnapshotHead>(std::unexpected(extent.error()));
    if (auto whole = decode_manifest_file(codec, id, input, 1)) {
      if (whole->chunks.size() != whole->chunk_count() ||
          whole->chunks.size() > kMaxReadableManifestChunks)
        std::abort();
      if (!head || head->size != whole->size || head->nvram != whole->nvram ||
          head->zero_chunks != whole->zero_chunks)
        std::abort();
    }
  }
  return 0;
}
