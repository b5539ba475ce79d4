#include "store/blob.h"

#include <zstd.h>

#include <cstring>

#include "store/compress.h"

#include <openssl/crypto.h>

namespace haven::store {
namespace {

std::array<uint8_t, kBlobHeaderBytes> header(BlobKind kind, uint8_t flags, uint32_t plain_size) {
  std::array<uint8_t, kBlobHeaderBytes> bytes{kBlobMagic, static_cast<uint8_t>(kind), flags, 0};
  std::memcpy(bytes.data() + 4, &plain_size, 4);  // little-endian hosts only (x86)
  return bytes;
}

std::vector<uint8_t> associated_data(std::span<const uint8_t> head,
                                     std::span<const uint8_t> binding) {
  std::vector<uint8_t> data(head.begin(), head.end());
  data.insert(data.end(), binding.begin(), binding.end());
  return data;
}

// Opens a sealed blob's body into `opened` (which authenticates the header with it).
Result<void> open_body(const BlobCodec& codec, std::span<const uint8_t> blob,
                       std::span<const uint8_t> binding, std::vector<uint8_t>& opened) {
  auto body = blob.subspan(kBlobHeaderBytes);
  if (body.size() < kSealOverhead)
    return make_error("sealed data of {} bytes is shorter than nonce and tag", body.size());
  opened.resize(body.size() - kSealOverhead);
  return open_sealed_into(codec.keys->data, associated_data(blob.first(kBlobHeaderBytes), binding),
                          body, opened);
}

// Whether blobs of `kind` carry a tag under `codec`'s authentication key.
bool tagged(const BlobCodec& codec, BlobKind kind) {
  return codec.auth && !codec.keys && kind != BlobKind::chunk;
}

// The tag over a blob's header, its binding (with its length, so the two cannot trade bytes)
// and its body.
Result<ChunkId> auth_tag(const Key& key, std::span<const uint8_t> head,
                         std::span<const uint8_t> binding, std::span<const uint8_t> body) {
  auto binding_size = static_cast<uint32_t>(binding.size());
  return hmac_sha256(
      key, {head, std::span(reinterpret_cast<const uint8_t*>(&binding_size), 4), binding, body});
}

// An unsealed blob's body: all after the header, less the tag when it has one, which is
// checked when `check_tag` (before anything is made of the body).
Result<std::span<const uint8_t>> unsealed_body(const BlobCodec& codec, uint8_t flags,
                                               std::span<const uint8_t> blob,
                                               std::span<const uint8_t> binding, bool check_tag) {
  auto body = blob.subspan(kBlobHeaderBytes);
  if (!(flags & kBlobAuthenticated)) return body;
  if (body.size() < kAuthTagBytes)
    return make_error("an authenticated blob of {} bytes is shorter than its tag", body.size());
  auto tag = body.last(kAuthTagBytes);
  body = body.first(body.size() - kAuthTagBytes);
  if (check_tag) {
    ChunkId expected = TRY(auth_tag(*codec.auth, blob.first(kBlobHeaderBytes), binding, body));
    if (CRYPTO_memcmp(expected.bytes.data(), tag.data(), kAuthTagBytes) != 0)
      return make_error(
          "authentication failed: the data was changed, or belongs elsewhere in the repository");
  }
  return body;
}

// zstd's largest expansion: a block of up to 128 KiB can be one repeated byte, stored in 4
// bytes (a 3-byte block header and the byte).
constexpr uint64_t kMaxZstdExpansion = (128 << 10) / 4;

// Whether `body` (unsealed) can hold `plain_size` bytes: stored data that long, or a zstd frame
// that declares that size and is long enough to expand to it.
Result<void> check_body_size(uint8_t flags, std::span<const uint8_t> body, uint32_t plain_size) {
  if (flags & kBlobCompressed) {
    if (ZSTD_getFrameContentSize(body.data(), body.size()) != plain_size ||
        plain_size > (body.size() + 1) * kMaxZstdExpansion)
      return make_error("a compressed blob of {} bytes that cannot hold the {} it claims",
                        body.size(), plain_size);
  } else if (body.size() != plain_size) {
    return make_error("a blob holds {} bytes, its header says {}", body.size(), plain_size);
  }
  return {};
}

// Decodes a blob whose header parsed as `head`.
Result<void> decode_checked_into(const BlobCodec& codec, const BlobHeader& head,
                                 std::span<const uint8_t> blob, std::span<const uint8_t> binding,
                                 std::span<uint8_t> plain, bool check_tag) {
  bool compressed = head.flags & kBlobCompressed;
  if (head.flags & kBlobSealed) {
    auto body = blob.subspan(kBlobHeaderBytes);
    if (!compressed)
      return open_sealed_into(codec.keys->data,
                              associated_data(blob.first(kBlobHeaderBytes), binding), body, plain);
    thread_local std::vector<uint8_t> opened;
    TRY(open_body(codec, blob, binding, opened));
    return decompress_into(opened, plain);
  }
  auto body = TRY(unsealed_body(codec, head.flags, blob, binding, check_tag));
  if (compressed) return decompress_into(body, plain);
  if (body.size() != plain.size())
    return make_error("a blob holds {} bytes, its header says {}", body.size(), plain.size());
  if (!body.empty()) std::memcpy(plain.data(), body.data(), body.size());
  return {};
}

}  // namespace

Result<void> encode_blob_into(const BlobCodec& codec, BlobKind kind, std::span<const uint8_t> plain,
                              std::span<const uint8_t> binding, std::vector<uint8_t>& blob) {
  if (plain.size() > UINT32_MAX) return make_error("a blob of {} bytes is too big", plain.size());
  // The compressed form is scratch: kept per thread so a backup allocates nothing per chunk.
  thread_local std::vector<uint8_t> packed;
  packed.clear();
  uint8_t flags = 0;
  if (codec.level != 0) {
    TRY(compress(plain, codec.level, packed));
    if (packed.size() < plain.size()) flags |= kBlobCompressed;
  }
  std::span<const uint8_t> payload =
      flags & kBlobCompressed ? std::span<const uint8_t>(packed) : plain;
  if (codec.keys) flags |= kBlobSealed;
  if (tagged(codec, kind)) flags |= kBlobAuthenticated;
  auto head = header(kind, flags, static_cast<uint32_t>(plain.size()));
  blob.assign(head.begin(), head.end());
  if (codec.keys) {
    blob.reserve(kBlobHeaderBytes + payload.size() + kSealOverhead);
    TRY(seal(codec.keys->data, associated_data(head, binding), payload, blob));
    return {};
  }
  blob.reserve(kBlobHeaderBytes + payload.size() + kAuthTagBytes);
  blob.insert(blob.end(), payload.begin(), payload.end());
  if (flags & kBlobAuthenticated) {
    ChunkId tag = TRY(auth_tag(*codec.auth, head, binding, payload));
    blob.insert(blob.end(), tag.bytes.begin(), tag.bytes.end());
  }
  return {};
}

Result<std::vector<uint8_t>> encode_blob(const BlobCodec& codec, BlobKind kind,
                                         std::span<const uint8_t> plain,
                                         std::span<const uint8_t> binding) {
  std::vector<uint8_t> blob;
  TRY(encode_blob_into(codec, kind, plain, binding, blob));
  return blob;
}

Result<BlobHeader> parse_blob_header(const BlobCodec& codec, BlobKind kind,
                                     std::span<const uint8_t> blob, size_t max_plain) {
  if (blob.size() < kBlobHeaderBytes)
    return make_error("a blob of {} bytes has no header", blob.size());
  if (blob[0] != kBlobMagic) return make_error("not a Haven blob (bad magic)");
  if (blob[1] != static_cast<uint8_t>(kind))
    return make_error("a blob of kind {} where kind {} was expected", blob[1],
                      static_cast<int>(kind));
  uint8_t flags = blob[2];
  if (flags & ~(kBlobCompressed | kBlobSealed | kBlobAuthenticated) || blob[3] != 0)
    return make_error("a blob with unknown flags {:#x}", flags);
  uint32_t plain_size;
  std::memcpy(&plain_size, blob.data() + 4, 4);
  if (plain_size > max_plain)
    return make_error("a blob claims {} bytes, more than the {} allowed", plain_size, max_plain);
  bool sealed = flags & kBlobSealed;
  if (sealed != (codec.keys != nullptr))
    return make_error("an {} blob in an {} repository", sealed ? "encrypted" : "unencrypted",
                      sealed ? "unencrypted" : "encrypted");
  bool authenticated = flags & kBlobAuthenticated;
  if (authenticated != tagged(codec, kind))
    return make_error("{}", authenticated ? "an authenticated blob where none is expected"
                                          : "a blob without its authentication tag (this "
                                            "repository authenticates everything but chunk data)");
  return BlobHeader{flags, plain_size};
}

Result<void> decode_blob_into(const BlobCodec& codec, BlobKind kind, std::span<const uint8_t> blob,
                              std::span<const uint8_t> binding, std::span<uint8_t> plain) {
  auto head = TRY(parse_blob_header(codec, kind, blob, plain.size()));
  if (head.plain_size != plain.size())
    return make_error("a blob of {} bytes where {} were expected", head.plain_size, plain.size());
  return decode_checked_into(codec, head, blob, binding, plain, true);
}

Result<void> check_unsealed_size(const BlobHeader& header, std::span<const uint8_t> blob) {
  if (header.flags & kBlobSealed) return {};
  auto body = TRY(unsealed_body({}, header.flags, blob, {}, false));
  return check_body_size(header.flags, body, header.plain_size);
}

Result<std::vector<uint8_t>> decode_blob(const BlobCodec& codec, BlobKind kind,
                                         std::span<const uint8_t> blob, size_t max_plain,
                                         std::span<const uint8_t> binding) {
  auto head = TRY(parse_blob_header(codec, kind, blob, max_plain));
  // The size a header claims is believed only once the body could hold it (check_body_size),
  // so a few damaged or hostile bytes cannot make us allocate (and touch) up to `max_plain`;
  // a sealed compressed body is opened first, which authenticates the header.
  std::span<const uint8_t> body = blob.subspan(kBlobHeaderBytes);
  bool sealed = head.flags & kBlobSealed;
  if (sealed && (head.flags & kBlobCompressed)) {
    std::vector<uint8_t> opened;  // not kept: a metadata blob may be large
    TRY(open_body(codec, blob, binding, opened));
    TRY(check_body_size(head.flags, opened, head.plain_size));
    std::vector<uint8_t> plain(head.plain_size);
    TRY(decompress_into(opened, plain));
    return plain;
  }
  if (sealed) {
    if (body.size() != uint64_t{head.plain_size} + kSealOverhead)
      return make_error("sealed data of {} bytes for {} bytes of plaintext", body.size(),
                        head.plain_size);
    std::vector<uint8_t> plain(head.plain_size);
    TRY(decode_checked_into(codec, head, blob, binding, plain, true));
    return plain;
  }
  // The tag is checked before the size it vouches for is believed.
  auto unsealed = TRY(unsealed_body(codec, head.flags, blob, binding, true));
  TRY(check_body_size(head.flags, unsealed, head.plain_size));
  std::vector<uint8_t> plain(head.plain_size);
  TRY(decode_checked_into(codec, head, blob, binding, plain, false));
  return plain;
}

}  // namespace haven::store
