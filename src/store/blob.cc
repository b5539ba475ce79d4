#include "store/blob.h"

#include <zstd.h>

#include <cstring>

#include "store/compress.h"

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
  auto head = header(kind, flags, static_cast<uint32_t>(plain.size()));
  blob.assign(head.begin(), head.end());
  if (codec.keys) {
    blob.reserve(kBlobHeaderBytes + payload.size() + kSealOverhead);
    TRY(seal(codec.keys->data, associated_data(head, binding), payload, blob));
  } else {
    blob.insert(blob.end(), payload.begin(), payload.end());
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
  if (flags & ~(kBlobCompressed | kBlobSealed) || blob[3] != 0)
    return make_error("a blob with unknown flags {:#x}", flags);
  uint32_t plain_size;
  std::memcpy(&plain_size, blob.data() + 4, 4);
  if (plain_size > max_plain)
    return make_error("a blob claims {} bytes, more than the {} allowed", plain_size, max_plain);
  bool sealed = flags & kBlobSealed;
  if (sealed != (codec.keys != nullptr))
    return make_error("an {} blob in an {} repository", sealed ? "encrypted" : "unencrypted",
                      sealed ? "unencrypted" : "encrypted");
  return BlobHeader{flags, plain_size};
}

Result<void> decode_blob_into(const BlobCodec& codec, BlobKind kind, std::span<const uint8_t> blob,
                              std::span<const uint8_t> binding, std::span<uint8_t> plain) {
  auto head = TRY(parse_blob_header(codec, kind, blob, plain.size()));
  if (head.plain_size != plain.size())
    return make_error("a blob of {} bytes where {} were expected", head.plain_size, plain.size());
  auto body = blob.subspan(kBlobHeaderBytes);
  bool compressed = head.flags & kBlobCompressed;
  if (head.flags & kBlobSealed) {
    if (!compressed)
      return open_sealed_into(codec.keys->data,
                              associated_data(blob.first(kBlobHeaderBytes), binding), body, plain);
    thread_local std::vector<uint8_t> opened;
    TRY(open_body(codec, blob, binding, opened));
    return decompress_into(opened, plain);
  }
  if (compressed) return decompress_into(body, plain);
  if (body.size() != plain.size())
    return make_error("a blob holds {} bytes, its header says {}", body.size(), plain.size());
  if (!body.empty()) std::memcpy(plain.data(), body.data(), body.size());
  return {};
}

Result<void> check_unsealed_size(const BlobHeader& header, std::span<const uint8_t> blob) {
  if (header.flags & kBlobSealed) return {};
  return check_body_size(header.flags, blob.subspan(kBlobHeaderBytes), header.plain_size);
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
  } else {
    TRY(check_body_size(head.flags, body, head.plain_size));
  }
  std::vector<uint8_t> plain(head.plain_size);
  TRY(decode_blob_into(codec, kind, blob, binding, plain));
  return plain;
}

}  // namespace haven::store
