#include "store/manifest.h"

#include <gtest/gtest.h>

#include "store/chunk_index.h"
#include "store/crypto.h"
#include "store/repo_config.h"

namespace haven::store {
namespace {

Snapshot sample() {
  Snapshot snapshot;
  snapshot.id = "0123456789abcdef";
  snapshot.name = "vm1";
  snapshot.source = "/var/lib/haven/vm1.img";
  snapshot.time = 1795700000;
  snapshot.tags = {"daily", "web"};
  snapshot.size = 3 * 65536 + 100;
  snapshot.chunk_size = 65536;
  snapshot.chunks.resize(4);
  snapshot.chunks[0] = sha256(std::vector<uint8_t>{1});
  snapshot.chunks[2] = sha256(std::vector<uint8_t>{2});
  snapshot.chunks[3] = sha256(std::vector<uint8_t>{3});
  return snapshot;
}

TEST(Manifest, RoundTrips) {
  Snapshot snapshot = sample();
  auto decoded = decode_manifest(encode_manifest(snapshot)).value();
  EXPECT_EQ(decoded.id, snapshot.id);
  EXPECT_EQ(decoded.name, snapshot.name);
  EXPECT_EQ(decoded.source, snapshot.source);
  EXPECT_EQ(decoded.time, snapshot.time);
  EXPECT_EQ(decoded.tags, snapshot.tags);
  EXPECT_EQ(decoded.size, snapshot.size);
  EXPECT_EQ(decoded.chunks, snapshot.chunks);
  EXPECT_TRUE(Snapshot::is_hole(decoded.chunks[1]));
}

TEST(Manifest, RejectsTruncationAndInconsistentCounts) {
  auto bytes = encode_manifest(sample());
  for (size_t cut = 0; cut < bytes.size(); cut += 13)
    EXPECT_FALSE(decode_manifest(std::span(bytes).first(cut))) << "cut at " << cut;
  Snapshot wrong = sample();
  wrong.size = 10 * 65536;  // needs 10 chunks, lists 4
  auto error = decode_manifest(encode_manifest(wrong));
  ASSERT_FALSE(error);
  EXPECT_NE(error.error().message().find("lists 4 chunks"), std::string::npos);
  wrong = sample();
  wrong.chunk_size = 0;
  EXPECT_FALSE(decode_manifest(encode_manifest(wrong)));
}

// OVMF's 4 MiB build keeps 528 KiB of variables, mostly erased flash (0xff).
std::vector<uint8_t> sample_nvram() {
  std::vector<uint8_t> nvram(528 << 10, 0xff);
  for (size_t i = 0; i < 4096; ++i) nvram[i] = static_cast<uint8_t>(i * 2654435761u >> 11);
  return nvram;
}

TEST(Manifest, CarriesAUefiGuestsVariablesCompressed) {
  Snapshot snapshot = sample();
  snapshot.vm = R"({"name": "vm1", "firmware": "uefi"})";
  snapshot.disk = 0;
  snapshot.nvram = sample_nvram();
  auto bytes = encode_manifest(snapshot);
  EXPECT_LT(bytes.size(), encode_manifest(sample()).size() + 16384) << "compressed";
  auto decoded = decode_manifest(bytes).value();
  EXPECT_EQ(decoded.nvram, snapshot.nvram);
  EXPECT_EQ(decoded.chunks, snapshot.chunks);
}

// The header of a manifest as `text` gives it, the ids as sample() has them.
std::vector<uint8_t> with_header(const std::string& text) {
  std::vector<uint8_t> bytes = {'H', 'V', 'N', 'S', 'N', 'A', 'P', '1'};
  auto length = static_cast<uint32_t>(text.size());
  bytes.insert(bytes.end(), reinterpret_cast<const uint8_t*>(&length),
               reinterpret_cast<const uint8_t*>(&length) + 4);
  bytes.insert(bytes.end(), text.begin(), text.end());
  for (const ChunkId& id : sample().chunks)
    bytes.insert(bytes.end(), id.bytes.begin(), id.bytes.end());
  return bytes;
}

TEST(Manifest, AnOlderManifestHasNoVariablesAndBadOnesAreRefused) {
  const std::string base =
      R"("id": "0123456789abcdef", "name": "vm1", "source": "/d", "time": 1, "tags": [],
         "size": 196708, "chunk_size": 65536, "chunks": 4)";
  auto old = decode_manifest(with_header("{" + base + "}"));
  ASSERT_TRUE(old) << old.error().message();
  EXPECT_TRUE(old->nvram.empty());
  auto plain =
      decode_manifest(with_header("{" + base + R"(, "nvram": {"bytes": 3, "plain": "Zm9v"}})"));
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_EQ(plain->nvram, (std::vector<uint8_t>{'f', 'o', 'o'}));
  for (const char* bad :
       {R"("nvram": 1)", R"("nvram": {"plain": "Zm9v"})",
        R"("nvram": {"bytes": 4, "plain": "Zm9v"})", R"("nvram": {"bytes": 0, "plain": ""})",
        R"("nvram": {"bytes": 3, "plain": "Zm9"})", R"("nvram": {"bytes": 3, "zstd": "Zm9v"})",
        R"("nvram": {"bytes": 99999999999, "zstd": "Zm9v"})", R"("nvram": {"bytes": 3})"}) {
    auto decoded = decode_manifest(with_header("{" + base + ", " + bad + "}"));
    ASSERT_FALSE(decoded) << bad;
    EXPECT_TRUE(decoded.error().message().starts_with("manifest's UEFI variables: "))
        << decoded.error().message();
  }
}

TEST(ChunkIndexFile, RoundTripsAndRejectsPartialEntries) {
  std::vector<IndexEntry> entries(3);
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].id = sha256(std::vector<uint8_t>{static_cast<uint8_t>(i)});
    entries[i].location.pack[0] = static_cast<uint8_t>(i);
    entries[i].location.offset = 1000 * i;
    entries[i].location.length = 77;
    entries[i].location.plain_size = 65536;
  }
  auto bytes = encode_index(entries);
  auto decoded = decode_index(bytes).value();
  ASSERT_EQ(decoded.size(), 3u);
  EXPECT_EQ(decoded[2].id, entries[2].id);
  EXPECT_EQ(decoded[2].location.offset, 2000u);
  EXPECT_FALSE(decode_index(std::span(bytes).first(bytes.size() - 1)));
  ChunkIndex index;
  for (const auto& entry : decoded) index.add(entry);
  EXPECT_TRUE(index.contains(entries[1].id));
  EXPECT_FALSE(index.contains(sha256(std::vector<uint8_t>{9})));
}

TEST(RepoConfig, RoundTripsAndRejectsForeignOrOddConfigs) {
  RepoConfig config;
  config.id = "abc";
  config.encrypted = true;
  auto decoded = repo_config_from_json(repo_config_to_json(config)).value();
  EXPECT_EQ(decoded.id, "abc");
  EXPECT_TRUE(decoded.encrypted);
  EXPECT_EQ(decoded.chunk_size, 65536u);
  EXPECT_FALSE(repo_config_from_json(R"({"format": "restic"})"));
  EXPECT_FALSE(repo_config_from_json("[]"));
  std::string odd = repo_config_to_json(config);
  odd.replace(odd.find("65536"), 5, "65537");
  EXPECT_FALSE(repo_config_from_json(odd));
  std::string future = repo_config_to_json(config);
  future.replace(future.find("\"version\": 3"), 12, "\"version\": 9");
  auto refused = repo_config_from_json(future);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("version 9"), std::string::npos);
  // Version 1 repositories (one-piece manifests) are still read.
  std::string older = repo_config_to_json(config);
  older.replace(older.find("\"version\": 3"), 12, "\"version\": 1");
  auto old = repo_config_from_json(older);
  ASSERT_TRUE(old) << old.error().message();
  EXPECT_EQ(old->version, 1);
  older.replace(older.find("\"version\": 1"), 12, "\"version\": 0");
  EXPECT_FALSE(repo_config_from_json(older));
}

// A damaged number is reported as the file has it, not as what a narrowing made of it.
TEST(RepoConfig, ADamagedNumberIsQuotedAsWritten) {
  RepoConfig config;
  config.id = "abc";
  std::string text = repo_config_to_json(config);
  for (const char* damaged : {"4294967296", "-65536", "65536.5", "\"64K\""}) {
    std::string changed = text;
    changed.replace(changed.find("65536"), 5, damaged);
    auto refused = repo_config_from_json(changed);
    ASSERT_FALSE(refused) << damaged;
    EXPECT_NE(refused.error().message().find(std::string("'chunk_size' is ") + damaged),
              std::string::npos)
        << refused.error().message();
  }
}

}  // namespace
}  // namespace haven::store
