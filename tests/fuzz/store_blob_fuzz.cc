// Fuzzes the repository's blob decoder (what every chunk, index and manifest file goes
// through) with and without keys, then the index and manifest parsers on whatever decodes.
// A repository's files are untrusted input: damage or an attacker must give an error, never
// a crash, an over-allocation or a blob that decodes to more than it may.
#include <cstdlib>

#include "store/blob.h"
#include "store/chunk_index.h"
#include "store/manifest.h"

using namespace haven::store;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const MasterKeys keys{};
  std::span<const uint8_t> input(data, size);
  for (const MasterKeys* with : {static_cast<const MasterKeys*>(nullptr), &keys}) {
    BlobCodec codec{with, 3};
    for (BlobKind kind : {BlobKind::chunk, BlobKind::index, BlobKind::manifest}) {
      auto plain = decode_blob(codec, kind, input, 1 << 20);
      if (!plain) continue;
      if (plain->size() > (1 << 20)) std::abort();
      if (kind == BlobKind::index) (void)decode_index(*plain);
      if (kind == BlobKind::manifest) (void)decode_manifest(*plain);
    }
  }
  return 0;
}
