// Writes seed inputs for the store fuzz targets into a directory: real blobs (chunk, index and
// manifest; plain, sealed and tagged with the all-zero keys the blob target also tries;
// compressed and stored), packs with their list of blobs, and bare manifests and index files.
// Starting from valid files, the fuzzer spends its runs in the parsers' structure instead of
// guessing a magic byte.
//
//   haven_store_fuzz_seeds DIR
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "store/blob.h"
#include "store/chunk_index.h"
#include "store/manifest.h"
#include "store/manifest_file.h"
#include "store/pack.h"

using namespace haven::store;

namespace {

bool write_seed(const std::string& dir, const std::string& name, std::span<const uint8_t> data) {
  std::string path = dir + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return ::close(fd) == 0 && ok;
}

Snapshot sample_snapshot() {
  Snapshot snapshot;
  snapshot.id = "0123456789abcdef";
  snapshot.name = "vm1";
  snapshot.source = "/var/lib/haven/vm1.img";
  snapshot.tags = {"daily"};
  snapshot.size = 5 * 4096 + 100;
  snapshot.chunk_size = 4096;
  snapshot.time = 1700000000;
  snapshot.chunks.resize(6);
  for (size_t i = 0; i < snapshot.chunks.size(); i += 2) snapshot.chunks[i].bytes.fill(i + 1);
  return snapshot;
}

// A UEFI guest's disk: its VM definition and a (small) variable store.
Snapshot uefi_snapshot() {
  Snapshot snapshot = sample_snapshot();
  snapshot.vm = R"({"name": "vm1", "firmware": "uefi", "disks": [{"path": "/d.img"}]})";
  snapshot.disk = 0;
  snapshot.nvram.assign(8192, 0xff);
  snapshot.nvram[0] = 0x5a;
  return snapshot;
}

// A pack of one chunk and its list, as PackWriter lays it out (with the id the fuzz target
// reads it under).
haven::Result<std::vector<uint8_t>> sample_pack(const BlobCodec& codec,
                                                std::span<const uint8_t> chunk) {
  std::vector<uint8_t> pack(kPackMagic, kPackMagic + sizeof(kPackMagic));
  auto blob = TRY(encode_blob(codec, BlobKind::chunk, chunk));
  std::vector<IndexEntry> list(1);
  list[0].id.bytes.fill(9);
  list[0].location = {
      {}, pack.size(), static_cast<uint32_t>(blob.size()), static_cast<uint32_t>(chunk.size())};
  pack.insert(pack.end(), blob.begin(), blob.end());
  auto listed = TRY(encode_blob(codec, BlobKind::pack_contents, encode_index(list), PackId{}));
  pack.insert(pack.end(), listed.begin(), listed.end());
  uint64_t length = listed.size();
  std::array<uint8_t, kPackEndBytes> end;
  std::memcpy(end.data(), &length, 8);
  std::memcpy(end.data() + 8, kPackEndMagic, 8);
  pack.insert(pack.end(), end.begin(), end.end());
  return pack;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: haven_store_fuzz_seeds DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  static const MasterKeys keys{};
  static const Key auth{};
  std::vector<uint8_t> manifest = encode_manifest(sample_snapshot());
  std::vector<IndexEntry> entries(3);
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].id.bytes.fill(static_cast<uint8_t>(i + 7));
    entries[i].location = {{}, 4096 * i, 1000, 4096};
  }
  std::vector<uint8_t> index = encode_index(entries);
  std::vector<uint8_t> text(4096);
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<uint8_t>("haven "[i % 6]);
  std::vector<uint8_t> noise(512);
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<uint8_t>(i * 2654435761u >> 13);

  bool ok = write_seed(dir, "store-manifest", manifest) && write_seed(dir, "store-index", index) &&
            write_seed(dir, "store-manifest-uefi", encode_manifest(uefi_snapshot()));
  int n = 0;
  for (BlobCodec keyed : {BlobCodec{nullptr}, BlobCodec{&keys}, BlobCodec{nullptr, 1, &auth}}) {
    for (int level : {0, 1}) {
      BlobCodec codec = keyed;
      codec.level = level;
      struct Item {
        BlobKind kind;
        std::span<const uint8_t> plain;
      };
      for (Item item : {Item{BlobKind::chunk, text}, Item{BlobKind::chunk, noise},
                        Item{BlobKind::index, index}, Item{BlobKind::manifest, manifest}}) {
        auto blob = encode_blob(codec, item.kind, item.plain);
        ok = ok && blob && write_seed(dir, "store-blob-" + std::to_string(n++), *blob);
      }
      for (int version : {1, 2, 3}) {  // whole snapshot files, as the repository writes them
        auto file = encode_manifest_file(codec, uefi_snapshot(), version);
        ok = ok && file && write_seed(dir, "store-blob-" + std::to_string(n++), *file);
      }
      auto pack = sample_pack(codec, text);
      ok = ok && pack && write_seed(dir, "store-pack-" + std::to_string(n++), *pack);
      ok = ok && write_seed(dir, "store-manifest-head-" + std::to_string(n++),
                            encode_manifest_head(uefi_snapshot()));
    }
  }
  if (!ok) {
    std::perror(("haven_store_fuzz_seeds: writing into " + dir).c_str());
    return 1;
  }
  return 0;
}
