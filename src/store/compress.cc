#include "store/compress.h"

#include <zstd.h>

namespace haven::store {

Result<void> compress(std::span<const uint8_t> plain, int level, std::vector<uint8_t>& out) {
  size_t start = out.size();
  out.resize(start + ZSTD_compressBound(plain.size()));
  size_t written =
      ZSTD_compress(out.data() + start, out.size() - start, plain.data(), plain.size(), level);
  if (ZSTD_isError(written)) {
    out.resize(start);
    return make_error("zstd compress: {}", ZSTD_getErrorName(written));
  }
  out.resize(start + written);
  return {};
}

Result<std::vector<uint8_t>> decompress(std::span<const uint8_t> compressed, size_t plain_size) {
  unsigned long long declared = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return make_error("not zstd data");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != plain_size)
    return make_error("zstd frame holds {} bytes, expected {}", declared, plain_size);
  std::vector<uint8_t> plain(plain_size);
  size_t got = ZSTD_decompress(plain.data(), plain.size(), compressed.data(), compressed.size());
  if (ZSTD_isError(got)) return make_error("zstd decompress: {}", ZSTD_getErrorName(got));
  if (got != plain_size) return make_error("zstd gave {} bytes, expected {}", got, plain_size);
  return plain;
}

}  // namespace haven::store
