#include "store/manifest_file.h"

#include <cstring>
#include <type_traits>

#include "base/bytes.h"
#include "store/crypto.h"

namespace haven::store {
namespace {

constexpr char kFrameMagic[8] = {'H', 'V', 'N', 'M', 'A', 'N', 'I', '2'};
// A head holds metadata, a VM config and at most kMaxManifestNvram of variables (base64).
constexpr size_t kMaxHeadBytes = 2 * kMaxManifestNvram + (1 << 20);

static_assert(sizeof(ChunkId) == 32 && std::is_trivially_copyable_v<ChunkId>,
              "chunk ids are decoded in place as 32 raw bytes each");

bool is_framed(std::span<const uint8_t> start) {
  return start.size() >= sizeof(kFrameMagic) &&
         std::memcmp(start.data(), kFrameMagic, sizeof(kFrameMagic)) == 0;
}

uint32_t head_blob_bytes(std::span<const uint8_t> start) {
  uint32_t length;
  std::memcpy(&length, start.data() + sizeof(kFrameMagic), 4);
  return length;
}

Result<void> check_layout(std::span<const uint8_t> start, int version) {
  if (version >= 2 && !is_framed(start))
    return make_error("not a version-{} snapshot file (no \"HVNMANI2\" frame)", version);
  return {};
}

Result<SnapshotHead> check_id(SnapshotHead head, const std::string& id) {
  if (head.id != id) return make_error("snapshot {} calls itself {}", id, head.id);
  return head;
}

}  // namespace

Result<std::vector<uint8_t>> encode_manifest_file(const BlobCodec& codec, const Snapshot& snapshot,
                                                  int version) {
  if (snapshot.chunk_count() > kMaxManifestChunks)
    return make_error(
        "a disk of {} bytes has {} chunks of {} bytes, more than the {} a manifest "
        "may list (a larger chunk size takes a larger disk)",
        snapshot.size, snapshot.chunk_count(), snapshot.chunk_size, kMaxManifestChunks);
  if (snapshot.chunks.size() != snapshot.chunk_count())
    return make_error("snapshot {}: {} chunk ids for {} bytes in {}-byte chunks", snapshot.id,
                      snapshot.chunks.size(), snapshot.size, snapshot.chunk_size);
  if (version == 1)
    return encode_blob(codec, BlobKind::manifest, encode_manifest(snapshot), bytes_of(snapshot.id));
  std::span<const uint8_t> ids(reinterpret_cast<const uint8_t*>(snapshot.chunks.data()),
                               32 * snapshot.chunks.size());
  SnapshotHead metadata = snapshot;
  metadata.zero_chunks = snapshot.count_holes();
  metadata.ids_sha256 = sha256(ids);
  std::vector<uint8_t> plain_head = encode_manifest_head(metadata);
  if (plain_head.size() > kMaxHeadBytes)
    return make_error("snapshot {}: its head takes {} bytes", snapshot.id, plain_head.size());
  std::vector<uint8_t> head =
      TRY(encode_blob(codec, BlobKind::manifest, plain_head, bytes_of(snapshot.id)));
  if (head.size() > kMaxHeadBytes)  // what manifest_head_extent() accepts
    return make_error("snapshot {}: its head takes {} bytes", snapshot.id, head.size());
  std::vector<uint8_t> id_blob =
      TRY(encode_blob(codec, BlobKind::chunk_list, ids, bytes_of(snapshot.id)));
  std::vector<uint8_t> file(kManifestFrameBytes + head.size() + id_blob.size());
  auto length = static_cast<uint32_t>(head.size());
  std::memcpy(file.data(), kFrameMagic, sizeof(kFrameMagic));
  std::memcpy(file.data() + sizeof(kFrameMagic), &length, 4);
  std::memcpy(file.data() + kManifestFrameBytes, head.data(), head.size());
  std::memcpy(file.data() + kManifestFrameBytes + head.size(), id_blob.data(), id_blob.size());
  return file;
}

Result<uint64_t> manifest_head_extent(std::span<const uint8_t> start, uint64_t file_size,
                                      int version) {
  TRY(check_layout(start, version));
  if (!is_framed(start)) return file_size;  // version 1 (or not a manifest: decoding says)
  if (start.size() < kManifestFrameBytes) return make_error("manifest frame cut short");
  uint64_t extent = kManifestFrameBytes + uint64_t{head_blob_bytes(start)};
  if (head_blob_bytes(start) > kMaxHeadBytes || extent > file_size)
    return make_error("manifest head of {} bytes in a file of {}", head_blob_bytes(start),
                      file_size);
  return extent;
}

Result<SnapshotHead> decode_manifest_file_head(const BlobCodec& codec, const std::string& id,
                                               std::span<const uint8_t> head_bytes, int version) {
  TRY(check_layout(head_bytes, version));
  if (!is_framed(head_bytes)) {
    Snapshot whole = TRY(decode_manifest_file(codec, id, head_bytes, version));
    return std::move(static_cast<SnapshotHead&>(whole));
  }
  if (head_bytes.size() < kManifestFrameBytes ||
      head_blob_bytes(head_bytes) != head_bytes.size() - kManifestFrameBytes)
    return make_error("manifest head cut short");
  auto plain = TRY(decode_blob(codec, BlobKind::manifest, head_bytes.subspan(kManifestFrameBytes),
                               kMaxHeadBytes, bytes_of(id)));
  return check_id(TRY(decode_manifest_head(plain)), id);
}

Result<Snapshot> decode_manifest_file(const BlobCodec& codec, const std::string& id,
                                      std::span<const uint8_t> bytes, int version) {
  TRY(check_layout(bytes, version));
  if (!is_framed(bytes)) {
    auto plain = TRY(decode_blob(codec, BlobKind::manifest, bytes,
                                 kMaxHeadBytes + 32 * kMaxReadableManifestChunks, bytes_of(id)));
    Snapshot snapshot = TRY(decode_manifest(plain));
    TRY(check_id(snapshot, id));
    return snapshot;
  }
  uint64_t extent = TRY(manifest_head_extent(bytes, bytes.size(), version));
  Snapshot snapshot;
  static_cast<SnapshotHead&>(snapshot) =
      TRY(decode_manifest_file_head(codec, id, bytes.first(extent), version));
  auto id_blob = bytes.subspan(extent);
  uint64_t count = snapshot.chunk_count();
  // The count comes from the head (authenticated when sealed); the ids blob must agree.
  auto header = TRY(parse_blob_header(codec, BlobKind::chunk_list, id_blob, 32 * count));
  if (header.plain_size != 32 * count)
    return make_error("manifest holds {} bytes of ids for {} chunks", header.plain_size, count);
  TRY(check_unsealed_size(header, id_blob));  // before allocating for them
  snapshot.chunks.resize(count);
  TRY(decode_blob_into(codec, BlobKind::chunk_list, id_blob, bytes_of(id),
                       std::span(reinterpret_cast<uint8_t*>(snapshot.chunks.data()), 32 * count)));
  // (Absent only from files an unreleased build wrote before the digest was added.)
  if (snapshot.ids_sha256 != ChunkId{} &&
      sha256(std::span(reinterpret_cast<const uint8_t*>(snapshot.chunks.data()), 32 * count)) !=
          snapshot.ids_sha256)
    return make_error("manifest's chunk ids are damaged (their SHA-256 is not the head's)");
  if (snapshot.count_holes() != snapshot.zero_chunks)
    return make_error("manifest's head counts {} zero chunks, its ids {}", snapshot.zero_chunks,
                      snapshot.count_holes());
  return snapshot;
}

}  // namespace haven::store
