#include "store/manifest.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "store/compress.h"

namespace haven::store {
namespace {

constexpr char kMagic[8] = {'H', 'V', 'N', 'S', 'N', 'A', 'P', '1'};
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

}  // namespace

std::vector<uint8_t> encode_manifest(const Snapshot& snapshot) {
  nlohmann::json header = {{"id", snapshot.id},
                           {"name", snapshot.name},
                           {"source", snapshot.source},
                           {"time", snapshot.time},
                           {"tags", snapshot.tags},
                           {"size", snapshot.size},
                           {"chunk_size", snapshot.chunk_size},
                           {"chunks", snapshot.chunks.size()},
                           {"new_bytes", snapshot.new_bytes},
                           {"stored_bytes", snapshot.stored_bytes}};
  if (!snapshot.vm.empty()) {
    auto vm = nlohmann::json::parse(snapshot.vm, nullptr, false);
    header["vm"] = vm.is_discarded() ? nlohmann::json(snapshot.vm) : vm;
    header["disk"] = snapshot.disk;
  }
  if (!snapshot.nvram.empty()) header["nvram"] = encode_nvram(snapshot.nvram);
  std::string text = header.dump();
  auto length = static_cast<uint32_t>(text.size());
  std::vector<uint8_t> bytes(sizeof(kMagic) + 4 + text.size() + 32 * snapshot.chunks.size());
  uint8_t* at = bytes.data();
  std::memcpy(at, kMagic, sizeof(kMagic));
  std::memcpy(at + sizeof(kMagic), &length, 4);
  at += sizeof(kMagic) + 4;
  std::memcpy(at, text.data(), text.size());
  at += text.size();
  for (const ChunkId& id : snapshot.chunks) {
    std::memcpy(at, id.bytes.data(), 32);
    at += 32;
  }
  return bytes;
}

Result<Snapshot> decode_manifest(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(kMagic) + 4 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return make_error("not a snapshot manifest");
  uint32_t length;
  std::memcpy(&length, bytes.data() + sizeof(kMagic), 4);
  auto rest = bytes.subspan(sizeof(kMagic) + 4);
  if (length > rest.size()) return make_error("manifest header runs past its end");
  auto header = nlohmann::json::parse(rest.begin(), rest.begin() + length, nullptr, false);
  if (header.is_discarded() || !header.is_object())
    return make_error("manifest header is not JSON");
  Snapshot snapshot;
  uint64_t count = 0;
  try {
    snapshot.id = header.at("id").get<std::string>();
    snapshot.name = header.at("name").get<std::string>();
    snapshot.source = header.at("source").get<std::string>();
    snapshot.time = header.at("time").get<int64_t>();
    snapshot.tags = header.at("tags").get<std::vector<std::string>>();
    snapshot.size = header.at("size").get<uint64_t>();
    snapshot.chunk_size = header.at("chunk_size").get<uint32_t>();
    count = header.at("chunks").get<uint64_t>();
    snapshot.new_bytes = header.value("new_bytes", uint64_t{0});
    snapshot.stored_bytes = header.value("stored_bytes", uint64_t{0});
    if (header.contains("vm")) {
      snapshot.vm = header["vm"].dump();
      snapshot.disk = header.value("disk", int64_t{-1});
    }
  } catch (const nlohmann::json::exception& error) {
    return make_error("bad manifest header: {}", error.what());
  }
  if (header.contains("nvram"))
    snapshot.nvram = TRY(with_context(decode_nvram(header["nvram"]), "manifest's UEFI variables"));
  if (snapshot.chunk_size == 0) return make_error("manifest has a chunk size of 0");
  uint64_t expected =
      snapshot.size / snapshot.chunk_size + (snapshot.size % snapshot.chunk_size != 0);
  if (count != expected)
    return make_error("manifest lists {} chunks for {} bytes in {}-byte chunks", count,
                      snapshot.size, snapshot.chunk_size);
  auto ids = rest.subspan(length);
  if (ids.size() != 32 * count)
    return make_error("manifest holds {} bytes of ids for {} chunks", ids.size(), count);
  snapshot.chunks.resize(count);
  for (uint64_t i = 0; i < count; ++i)
    std::memcpy(snapshot.chunks[i].bytes.data(), ids.data() + 32 * i, 32);
  return snapshot;
}

}  // namespace haven::store
