#include "store/manifest.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "store/compress.h"

namespace haven::store {
namespace {

constexpr int kNvramLevel = 9;  // a few KiB either way; the store is read back rarely

// {"bytes": N, "zstd": BASE64}, or "plain" instead of "zstd" should zstd fail (it fails only
// when memory runs out), so that writing a manifest cannot fail.
nlohmann::json encode_nvram(std::span<const uint8_t> nvram) {
  std::vector<uint8_t> compressed;
  if (compress(nvram, kNvramLevel, compressed))
    return {{"bytes", nvram.size()}, {"zstd", to_base64(compressed)}};
  return {{"bytes", nvram.size()}, {"plain", to_base64(nvram)}};
}

Result<std::vector<uint8_t>> decode_nvram(const nlohmann::json& field) {
  if (!field.is_object()) return make_error("not an object");
  auto bytes = field.find("bytes");
  if (bytes == field.end() || !bytes->is_number_unsigned())
    return make_error("no size in \"bytes\"");
  uint64_t size = bytes->get<uint64_t>();
  if (size == 0 || size > kMaxManifestNvram)
    return make_error("{} bytes is not the size of a variable store", size);
  bool zstd = field.contains("zstd");
  const nlohmann::json& text = zstd ? field["zstd"] : field.value("plain", nlohmann::json());
  if (!text.is_string()) return make_error("no \"zstd\" or \"plain\" text");
  auto data = TRY(from_base64(text.get_ref<const std::string&>()));
  if (zstd) return decompress(data, size);
  if (data.size() != size) return make_error("{} bytes, expected {}", data.size(), size);
  return data;
}

nlohmann::json header_json(const SnapshotHead& head, uint64_t count) {
  nlohmann::json header = {{"id", head.id},
                           {"name", head.name},
                           {"source", head.source},
                           {"time", head.time},
                           {"tags", head.tags},
                           {"size", head.size},
                           {"chunk_size", head.chunk_size},
                           {"chunks", count},
                           {"zero_chunks", head.zero_chunks},
                           {"new_bytes", head.new_bytes},
                           {"stored_bytes", head.stored_bytes}};
  if (!head.vm.empty()) {
    auto vm = nlohmann::json::parse(head.vm, nullptr, false);
    header["vm"] = vm.is_discarded() ? nlohmann::json(head.vm) : vm;
    header["disk"] = head.disk;
  }
  if (!head.nvram.empty()) header["nvram"] = encode_nvram(head.nvram);
  if (const auto& file = head.source_file)
    header["source_file"] = {{"device", file->device},     {"inode", file->inode},
                             {"size", file->size},         {"mtime_ns", file->mtime_ns},
                             {"ctime_ns", file->ctime_ns}, {"seen_ns", file->seen_ns}};
  if (!head.parent.empty()) header["parent"] = head.parent;
  if (head.ids_sha256 != ChunkId{}) header["ids_sha256"] = head.ids_sha256.hex();
  return header;
}

// MAGIC, the header's length (4 bytes, little-endian) and the header, which says `count` ids
// follow; room for them is left for the caller.
std::vector<uint8_t> frame_header(const char (&magic)[8], const SnapshotHead& head, uint64_t count,
                                  size_t extra) {
  std::string text = header_json(head, count).dump();
  auto length = static_cast<uint32_t>(text.size());
  std::vector<uint8_t> bytes(sizeof(magic) + 4 + text.size() + extra);
  std::memcpy(bytes.data(), magic, sizeof(magic));
  std::memcpy(bytes.data() + sizeof(magic), &length, 4);
  std::memcpy(bytes.data() + sizeof(magic) + 4, text.data(), text.size());
  return bytes;
}

// The head framed by `magic`; `rest` is set to the bytes after the header.
Result<SnapshotHead> parse_header(const char (&magic)[8], std::span<const uint8_t> bytes,
                                  std::span<const uint8_t>& rest) {
  if (bytes.size() < sizeof(magic) + 4 || std::memcmp(bytes.data(), magic, sizeof(magic)) != 0)
    return make_error("not a snapshot manifest");
  uint32_t length;
  std::memcpy(&length, bytes.data() + sizeof(magic), 4);
  rest = bytes.subspan(sizeof(magic) + 4);
  if (length > rest.size()) return make_error("manifest header runs past its end");
  auto header = nlohmann::json::parse(rest.begin(), rest.begin() + length, nullptr, false);
  rest = rest.subspan(length);
  if (header.is_discarded() || !header.is_object())
    return make_error("manifest header is not JSON");
  SnapshotHead head;
  uint64_t count = 0;
  try {
    head.id = header.at("id").get<std::string>();
    head.name = header.at("name").get<std::string>();
    head.source = header.at("source").get<std::string>();
    head.time = header.at("time").get<int64_t>();
    head.tags = header.at("tags").get<std::vector<std::string>>();
    head.size = header.at("size").get<uint64_t>();
    head.chunk_size = header.at("chunk_size").get<uint32_t>();
    count = header.at("chunks").get<uint64_t>();
    head.zero_chunks = header.value("zero_chunks", uint64_t{0});
    head.new_bytes = header.value("new_bytes", uint64_t{0});
    head.stored_bytes = header.value("stored_bytes", uint64_t{0});
    if (header.contains("vm")) {
      head.vm = header["vm"].dump();
      head.disk = header.value("disk", int64_t{-1});
    }
    if (header.contains("source_file")) {
      const nlohmann::json& file = header["source_file"];
      head.source_file = SourceFile{.device = file.at("device").get<uint64_t>(),
                                    .inode = file.at("inode").get<uint64_t>(),
                                    .size = file.at("size").get<uint64_t>(),
                                    .mtime_ns = file.at("mtime_ns").get<int64_t>(),
                                    .ctime_ns = file.at("ctime_ns").get<int64_t>(),
                                    .seen_ns = file.at("seen_ns").get<int64_t>()};
    }
    head.parent = header.value("parent", std::string());
    if (header.contains("ids_sha256"))
      head.ids_sha256 = TRY(ChunkId::from_hex(header["ids_sha256"].get<std::string>()));
  } catch (const nlohmann::json::exception& error) {
    return make_error("bad manifest header: {}", error.what());
  }
  if (header.contains("nvram"))
    head.nvram = TRY(with_context(decode_nvram(header["nvram"]), "manifest's UEFI variables"));
  if (head.chunk_size == 0) return make_error("manifest has a chunk size of 0");
  if (count > kMaxReadableManifestChunks)
    return make_error("manifest lists {} chunks, more than the {} a manifest may hold", count,
                      kMaxReadableManifestChunks);
  if (count != head.chunk_count())
    return make_error("manifest lists {} chunks for {} bytes in {}-byte chunks", count, head.size,
                      head.chunk_size);
  return head;
}

constexpr char kMagic[8] = {'H', 'V', 'N', 'S', 'N', 'A', 'P', '1'};
constexpr char kHeadMagic[8] = {'H', 'V', 'N', 'H', 'E', 'A', 'D', '2'};

}  // namespace

uint64_t Snapshot::count_holes() const {
  uint64_t holes = 0;
  for (const ChunkId& chunk : chunks) holes += is_hole(chunk);
  return holes;
}

std::vector<uint8_t> encode_manifest(const Snapshot& snapshot) {
  SnapshotHead head = snapshot;
  head.zero_chunks = snapshot.count_holes();
  std::vector<uint8_t> bytes =
      frame_header(kMagic, head, snapshot.chunks.size(), 32 * snapshot.chunks.size());
  uint8_t* at = bytes.data() + bytes.size() - 32 * snapshot.chunks.size();
  for (const ChunkId& id : snapshot.chunks) {
    std::memcpy(at, id.bytes.data(), 32);
    at += 32;
  }
  return bytes;
}

Result<Snapshot> decode_manifest(std::span<const uint8_t> bytes) {
  std::span<const uint8_t> ids;
  Snapshot snapshot;
  static_cast<SnapshotHead&>(snapshot) = TRY(parse_header(kMagic, bytes, ids));
  uint64_t count = snapshot.chunk_count();
  if (ids.size() != 32 * count)
    return make_error("manifest holds {} bytes of ids for {} chunks", ids.size(), count);
  snapshot.chunks.resize(count);
  for (uint64_t i = 0; i < count; ++i)
    std::memcpy(snapshot.chunks[i].bytes.data(), ids.data() + 32 * i, 32);
  snapshot.zero_chunks = snapshot.count_holes();  // older manifests do not say
  return snapshot;
}

std::vector<uint8_t> encode_manifest_head(const SnapshotHead& head) {
  return frame_header(kHeadMagic, head, head.chunk_count(), 0);
}

Result<SnapshotHead> decode_manifest_head(std::span<const uint8_t> bytes) {
  std::span<const uint8_t> rest;
  auto head = TRY(parse_header(kHeadMagic, bytes, rest));
  if (!rest.empty()) return make_error("{} bytes after the manifest's head", rest.size());
  return head;
}

}  // namespace haven::store
