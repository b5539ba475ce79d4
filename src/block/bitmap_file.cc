#include "block/bitmap_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "base/atomic_file.h"
#include "base/log.h"
#include "base/sys.h"

namespace haven::block {
namespace {

constexpr char kMagic[8] = {'H', 'A', 'V', 'E', 'N', 'C', 'B', 'T'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kInUse = 1;
constexpr uint32_t kValid = 2;
constexpr size_t kBaselineBytes = 64;
constexpr size_t kHeaderBytes = 8 + 4 * 4 + 8 + 8 + kBaselineBytes;
constexpr uint64_t kMaxWords = uint64_t{1} << 24;  // 2^30 blocks: 64 TiB at 64 KiB

uint64_t fnv1a(const uint8_t* data, size_t size) {
  uint64_t hash = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 1099511628211ull;
  return hash;
}

template <class T>
void put(std::vector<uint8_t>& out, T value) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

template <class T>
T get(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

std::vector<uint8_t> encode(const TrackingState& state, bool in_use) {
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, (in_use ? kInUse : 0) | (state.valid ? kValid : 0));
  put<uint32_t>(out, state.granularity);
  put<uint32_t>(out, 0);
  put<uint64_t>(out, state.disk_bytes);
  put<uint64_t>(out, state.words.size());
  std::string baseline = state.baseline.substr(0, kBaselineBytes - 1);
  baseline.resize(kBaselineBytes, '\0');
  out.insert(out.end(), baseline.begin(), baseline.end());
  for (uint64_t word : state.words) put<uint64_t>(out, word);
  put<uint64_t>(out, fnv1a(out.data(), out.size()));
  return out;
}

struct Decoded {
  TrackingState state;
  bool in_use = false;
};

Result<Decoded> decode(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < kHeaderBytes + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    return make_error("not a dirty bitmap file");
  if (get<uint32_t>(bytes.data() + 8) != kVersion)
    return make_error("dirty bitmap version {}", get<uint32_t>(bytes.data() + 8));
  uint64_t words = get<uint64_t>(bytes.data() + 32);
  if (words > kMaxWords || bytes.size() != kHeaderBytes + 8 * words + 8)
    return make_error("dirty bitmap of the wrong size");
  if (fnv1a(bytes.data(), bytes.size() - 8) != get<uint64_t>(bytes.data() + bytes.size() - 8))
    return make_error("dirty bitmap checksum mismatch");
  Decoded decoded;
  uint32_t flags = get<uint32_t>(bytes.data() + 12);
  decoded.in_use = flags & kInUse;
  decoded.state.valid = flags & kValid;
  decoded.state.granularity = get<uint32_t>(bytes.data() + 16);
  decoded.state.disk_bytes = get<uint64_t>(bytes.data() + 24);
  const char* baseline = reinterpret_cast<const char*>(bytes.data() + 40);
  decoded.state.baseline.assign(baseline, strnlen(baseline, kBaselineBytes));
  decoded.state.words.resize(words);
  std::memcpy(decoded.state.words.data(), bytes.data() + kHeaderBytes, 8 * words);
  return decoded;
}

Result<std::optional<Decoded>> load(const std::string& path) {
  if (!TRY(sys::exists(path))) return std::nullopt;
  auto bytes = TRY(sys::read_file(path, kHeaderBytes + 8 * kMaxWords + 8));
  return with_context(decode(bytes), "{}", path);
}

Result<void> save(const std::string& path, const TrackingState& state, bool in_use) {
  return write_file_atomic(path, encode(state, in_use));
}

}  // namespace

std::string tracking_path(const std::string& image) {
  return image + ".cbt";
}

Result<TrackingState> open_tracking(const std::string& path, uint64_t disk_bytes,
                                    uint32_t granularity) {
  TrackingState fresh;
  fresh.granularity = granularity;
  fresh.disk_bytes = disk_bytes;
  fresh.words.assign(((disk_bytes + granularity - 1) / granularity + 63) / 64, 0);
  TrackingState state = fresh;
  auto loaded = load(path);
  if (loaded && *loaded && !(*loaded)->in_use && (*loaded)->state.disk_bytes == disk_bytes &&
      (*loaded)->state.granularity == granularity &&
      (*loaded)->state.words.size() == fresh.words.size())
    state = std::move((*loaded)->state);
  // Anything else (no file, a corrupt one, another size, a VMM that died) leaves `fresh`:
  // invalid, so the next backup reads everything.
  TRY(save(path, state, true));
  return state;
}

Result<void> close_tracking(const std::string& path, const TrackingState& state) {
  return save(path, state, false);
}

Result<std::optional<TrackingState>> read_tracking(const std::string& path) {
  auto loaded = TRY(load(path));
  if (!loaded) return std::nullopt;
  if (loaded->in_use) loaded->state.valid = false;
  return std::optional(std::move(loaded->state));
}

Result<void> save_bitmap_file(const std::string& path, const TrackingState& state) {
  return save(path, state, false);
}

Result<std::optional<TrackingState>> load_bitmap_file(const std::string& path) {
  auto loaded = TRY(load(path));
  if (!loaded) return std::nullopt;
  return std::optional(std::move(loaded->state));
}

bool image_newer_than_tracking(const std::string& image, const std::string& path) {
  auto image_stat = sys::stat_path(image), bits_stat = sys::stat_path(path);
  if (!image_stat || !bits_stat) return false;
  const struct stat &disk = *image_stat, &bits = *bits_stat;
  if (disk.st_mtim.tv_sec != bits.st_mtim.tv_sec) return disk.st_mtim.tv_sec > bits.st_mtim.tv_sec;
  return disk.st_mtim.tv_nsec > bits.st_mtim.tv_nsec;
}

void drop_tracking(const std::string& image) {
  std::string path = tracking_path(image);
  if (sys::remove_file(path))
    log::info(
        "{}: opened without changed-block tracking, so {} is removed (the next tracked "
        "backup reads the whole disk)",
        image, path);
}

}  // namespace haven::block
