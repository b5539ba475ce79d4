// Fuzzes the repository's blob decoder (what every chunk, index and manifest file goes
// through) with and without keys, then the index and manifest parsers on whatever decodes,
// and the input as a whole snapshot file (either layout, store/manifest_file.h) and as a pack
// whose list of blobs is read (store/pack.h).
// A repository's files are untrusted input: damage or an attacker must give an error, never
// a crash, an over-allocation or a blob that decodes to more than it may.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "store/pack.h"

#include "store/blob.h"
#include "store/chunk_index.h"
#include "store/manifest.h"
#include "store/manifest_file.h"

using namespace haven::store;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const MasterKeys keys{};
  static const Key auth{};
  std::span<const uint8_t> input(data, size);
  // Unencrypted, encrypted, and unencrypted with metadata authenticated (version 3).
  for (BlobCodec codec :
       {BlobCodec{nullptr, 3}, BlobCodec{&keys, 3}, BlobCodec{nullptr, 3, &auth}}) {
    for (BlobKind kind : {BlobKind::chunk, BlobKind::index, BlobKind::manifest,
                          BlobKind::chunk_list, BlobKind::pack_contents}) {
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
    // As a pack: whatever its end lists lies within it.
    static const int memory = ::memfd_create("pack", MFD_CLOEXEC);
    if (memory >= 0 && ::ftruncate(memory, 0) == 0 &&
        ::pwrite(memory, data, size, 0) == static_cast<ssize_t>(size)) {
      auto listed = read_pack_contents(codec, memory, PackId{}, size, 1 << 20);
      if (listed && *listed)
        for (const IndexEntry& entry : **listed)
          if (entry.location.offset + entry.location.length > size) std::abort();
    }
  }
  return 0;
}
