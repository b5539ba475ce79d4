#include "store/compress.h"

#include <zstd.h>

#include <memory>

namespace haven::store {
namespace {

// One zstd context per thread, kept for the thread's life: creating one per chunk costs
// more than compressing a 64 KiB chunk at a low level.
struct CompressContextFree {
  void operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }
};
struct DecompressContextFree {
  void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
};

ZSTD_CCtx* thread_compress_context() {
  thread_local std::unique_ptr<ZSTD_CCtx, CompressContextFree> context(ZSTD_createCCtx());
  return context.get();
}

ZSTD_DCtx* thread_decompress_context() {
  thread_local std::unique_ptr<ZSTD_DCtx, DecompressContextFree> context(ZSTD_createDCtx());
  return context.get();
}

}  // namespace

Result<void> compress(std::span<const uint8_t> plain, int level, std::vector<uint8_t>& out) {
  ZSTD_CCtx* context = thread_compress_context();
  if (!context) return make_error("zstd: cannot create a compression context");
  size_t start = out.size();
  out.resize(start + ZSTD_compressBound(plain.size()));
  size_t written = ZSTD_compressCCtx(context, out.data() + start, out.size() - start, plain.data(),
                                     plain.size(), level);
  if (ZSTD_isError(written)) {
    out.resize(start);
    return make_error("zstd compress: {}", ZSTD_getErrorName(written));
  }
  out.resize(start + written);
  return {};
}

Result<void> decompress_into(std::span<const uint8_t> compressed, std::span<uint8_t> plain) {
  unsigned long long declared = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return make_error("not zstd data");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != plain.size())
    return make_error("zstd frame holds {} bytes, expected {}", declared, plain.size());
  ZSTD_DCtx* context = thread_decompress_context();
  if (!context) return make_error("zstd: cannot create a decompression context");
  size_t got = ZSTD_decompressDCtx(context, plain.data(), plain.size(), compressed.data(),
                                   compressed.size());
  if (ZSTD_isError(got)) return make_error("zstd decompress: {}", ZSTD_getErrorName(got));
  if (got != plain.size()) return make_error("zstd gave {} bytes, expected {}", got, plain.size());
  return {};
}

Result<std::vector<uint8_t>> decompress(std::span<const uint8_t> compressed, size_t plain_size) {
  std::vector<uint8_t> plain(plain_size);
  TRY(decompress_into(compressed, plain));
  return plain;
}

}  // namespace haven::store
