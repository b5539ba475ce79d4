#include "block/point_in_time.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "base/sys.h"

namespace haven::block {
namespace {

// A copy the VMM could not make: the backup must fail rather than read a changed block.
constexpr uint8_t kFailed = 4;
// How long the backup waits for the VMM to finish copying one block.
constexpr auto kCopyWait = std::chrono::seconds(30);

std::atomic_ref<uint8_t> state_of(const Mapping& states, uint64_t index) {
  return std::atomic_ref<uint8_t>(states.data()[index]);
}

uint64_t block_count(uint64_t disk_bytes, uint32_t granularity) {
  return (disk_bytes + granularity - 1) / granularity;
}

Result<void> check_geometry(uint64_t disk_bytes, uint32_t granularity) {
  if (granularity < 4096 || (granularity & (granularity - 1)) != 0)
    return make_error("block size {} is not a power of two of at least 4 KiB", granularity);
  if (disk_bytes == 0) return make_error("an empty disk");
  return {};
}

}  // namespace

Result<std::unique_ptr<CopyBeforeWrite>> CopyBeforeWrite::create(const std::string& state_path,
                                                                 const std::string& data_path,
                                                                 int image_fd, uint64_t disk_bytes,
                                                                 uint32_t granularity,
                                                                 std::span<const uint64_t> wanted) {
  TRY(check_geometry(disk_bytes, granularity));
  uint64_t blocks = block_count(disk_bytes, granularity);
  if (!wanted.empty() && wanted.size() != (blocks + 63) / 64)
    return make_error("{}: {} bitmap words for {} blocks", state_path, wanted.size(), blocks);
  auto state_fd = TRY(sys::open(state_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  TRY(sys::resize(state_fd.get(), blocks, state_path));
  auto states =
      TRY(with_context(Mapping::of_fd(state_fd.get(), blocks, PROT_READ | PROT_WRITE, MAP_SHARED),
                       "{}", state_path));
  for (uint64_t i = 0; i < blocks; ++i)
    if (wanted.empty() || (wanted[i / 64] >> (i % 64) & 1))
      states.data()[i] = static_cast<uint8_t>(BlockView::wanted);
  auto data = TRY(sys::open(data_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  TRY(sys::resize(data.get(), disk_bytes, data_path));
  return std::make_unique<CopyBeforeWrite>(std::move(states), std::move(data), image_fd, disk_bytes,
                                           granularity);
}

CopyBeforeWrite::CopyBeforeWrite(Mapping states, UniqueFd data, int image_fd, uint64_t disk_bytes,
                                 uint32_t granularity)
    : m_states(std::move(states)),
      m_data(std::move(data)),
      m_image_fd(image_fd),
      m_disk_bytes(disk_bytes),
      m_granularity(granularity),
      m_buffer(std::make_unique<uint8_t[]>(granularity)) {}

bool CopyBeforeWrite::settled(uint64_t offset, uint64_t length) const {
  uint64_t end = std::min(offset + length, m_disk_bytes);
  for (uint64_t index = offset / m_granularity; index * m_granularity < end; ++index) {
    uint8_t state = state_of(m_states, index).load();
    if (state == static_cast<uint8_t>(BlockView::wanted) ||
        state == static_cast<uint8_t>(BlockView::copying))
      return false;
  }
  return true;
}

Result<void> CopyBeforeWrite::before_write(uint64_t offset, uint64_t length) {
  uint64_t end = std::min(offset + length, m_disk_bytes);
  Result<void> failed = {};
  for (uint64_t index = offset / m_granularity; index * m_granularity < end; ++index) {
    auto state = state_of(m_states, index);
    uint8_t expected = static_cast<uint8_t>(BlockView::wanted);
    if (!state.compare_exchange_strong(expected, static_cast<uint8_t>(BlockView::copying)))
      continue;     // not wanted, read already, or copied
    if (!failed) {  // the write goes ahead: every block it touches that is wanted fails too
      state.store(kFailed);
      continue;
    }
    uint64_t start = index * m_granularity;
    std::span<uint8_t> block(m_buffer.get(),
                             std::min<uint64_t>(m_granularity, m_disk_bytes - start));
    auto copied = [&]() -> Result<void> {
      TRY(with_context(sys::read_at(m_image_fd, block, start), "copy-before-write read"));
      return with_context(sys::write_at(m_data.get(), block, start), "copy-before-write");
    }();
    if (!copied) {
      state.store(kFailed);
      failed = std::move(copied);
      continue;
    }
    state.store(static_cast<uint8_t>(BlockView::copied));
    m_copied.fetch_add(1, std::memory_order_relaxed);
  }
  return failed;
}

Result<std::unique_ptr<PointInTimeReader>> PointInTimeReader::open(const std::string& state_path,
                                                                   const std::string& data_path,
                                                                   const std::string& image_path,
                                                                   uint64_t disk_bytes,
                                                                   uint32_t granularity) {
  TRY(check_geometry(disk_bytes, granularity));
  uint64_t blocks = block_count(disk_bytes, granularity);
  auto state_fd = TRY(sys::open(state_path, O_RDWR | O_CLOEXEC));
  struct stat st = TRY(sys::stat_fd(state_fd.get(), state_path));
  if (static_cast<uint64_t>(st.st_size) != blocks)
    return make_error("{}: {} bytes for {} blocks", state_path, st.st_size, blocks);
  auto states =
      TRY(with_context(Mapping::of_fd(state_fd.get(), blocks, PROT_READ | PROT_WRITE, MAP_SHARED),
                       "{}", state_path));
  auto data = TRY(sys::open(data_path, O_RDONLY | O_CLOEXEC));
  auto image = TRY(sys::open(image_path, O_RDONLY | O_CLOEXEC));
  return std::make_unique<PointInTimeReader>(std::move(states), std::move(data), std::move(image),
                                             image_path, disk_bytes, granularity);
}

PointInTimeReader::PointInTimeReader(Mapping states, UniqueFd data, UniqueFd image,
                                     std::string image_path, uint64_t disk_bytes,
                                     uint32_t granularity)
    : m_states(std::move(states)),
      m_data(std::move(data)),
      m_image(std::move(image)),
      m_image_path(std::move(image_path)),
      m_disk_bytes(disk_bytes),
      m_granularity(granularity) {}

bool PointInTimeReader::wanted(uint64_t offset, uint64_t length) const {
  uint64_t end = std::min(offset + length, m_disk_bytes);
  for (uint64_t index = offset / m_granularity; index * m_granularity < end; ++index)
    if (state_of(m_states, index).load() != static_cast<uint8_t>(BlockView::done)) return true;
  return false;
}

Result<void> PointInTimeReader::read(uint64_t offset, std::span<uint8_t> out) {
  if (offset > m_disk_bytes || out.size() > m_disk_bytes - offset)
    return make_error("{}: read of {} bytes at {} past the disk's end", m_image_path, out.size(),
                      offset);
  uint64_t end = offset + out.size();
  while (offset < end) {
    uint64_t index = offset / m_granularity;
    uint64_t block_start = index * m_granularity;
    uint64_t block_end = std::min<uint64_t>(block_start + m_granularity, m_disk_bytes);
    uint64_t piece_end = std::min(end, block_end);
    std::span<uint8_t> piece = out.first(piece_end - offset);
    out = out.subspan(piece.size());
    TRY(with_context(sys::read_at(m_image.get(), piece, offset), "{}", m_image_path));
    auto state = state_of(m_states, index);
    uint8_t seen = static_cast<uint8_t>(BlockView::wanted);
    bool whole = offset == block_start && piece_end == block_end;
    // Read whole, the block is claimed; read in part, it stays wanted for the other parts.
    bool unchanged = whole ? state.compare_exchange_strong(seen, uint8_t{0})
                           : (seen = state.load()) == static_cast<uint8_t>(BlockView::wanted);
    if (!unchanged) {
      auto deadline = std::chrono::steady_clock::now() + kCopyWait;
      while (seen == static_cast<uint8_t>(BlockView::copying)) {
        if (std::chrono::steady_clock::now() > deadline)
          return make_error("{}: the VMM did not finish copying block {} aside", m_image_path,
                            index);
        std::this_thread::sleep_for(std::chrono::microseconds(50));  // another process's copy
        seen = state.load();
      }
      if (seen == kFailed)
        return make_error("{}: the VMM could not copy block {} aside before the guest wrote it",
                          m_image_path, index);
      if (seen != static_cast<uint8_t>(BlockView::copied))
        return make_error("{}: block {} was read before (state {})", m_image_path, index, seen);
      TRY(with_context(sys::read_at(m_data.get(), piece, offset), "{} (copied aside)",
                       m_image_path));
    }
    offset = piece_end;
  }
  return {};
}

}  // namespace haven::block
