#include "block/hydrating_image.h"

#include <bit>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "base/file_extents.h"
#include "base/log.h"
#include "base/sys.h"
#include "base/thread_kind.h"
#include "block/bitmap_file.h"

namespace haven::block {
namespace {

uint64_t count_bits(const std::vector<uint64_t>& words) {
  uint64_t count = 0;
  for (uint64_t word : words) count += static_cast<uint64_t>(__builtin_popcountll(word));
  return count;
}

}  // namespace

std::string HydratingImage::state_path(const std::string& image) {
  return image + ".hydration";
}

bool HydratingImage::is_complete(const std::string& image) {
  auto state = load_bitmap_file(state_path(image));
  return state && *state && (*state)->valid;
}

bool HydratingImage::is_restoring(const std::string& image) {
  auto there = sys::exists(state_path(image));
  if (there && !*there) return false;
  return !is_complete(image);
}

std::optional<TrackingState> HydratingImage::saved_state(const std::string& image) {
  auto state = load_bitmap_file(state_path(image));
  if (!state || !*state) return std::nullopt;
  return std::move(**state);
}

Result<std::unique_ptr<HydratingImage>> HydratingImage::open(const Options& options, Fetch fetch) {
  const uint32_t granularity = options.granularity;
  if (granularity < 4096 || (granularity & (granularity - 1)) != 0)
    return make_error("{}: block size {} is not a power of two of at least 4 KiB", options.image,
                      granularity);
  if (options.disk_bytes == 0) return make_error("{}: an empty disk", options.image);
  uint64_t blocks = (options.disk_bytes + granularity - 1) / granularity;
  TrackingState state;
  state.granularity = granularity;
  state.disk_bytes = options.disk_bytes;
  state.baseline = options.source;
  state.words.assign((blocks + 63) / 64, 0);
  int flags = O_RDWR | O_CREAT | O_CLOEXEC;
  if (options.persistent) {
    std::string path = state_path(options.image);
    auto saved = TRY(load_bitmap_file(path));
    if (saved) {
      if (saved->baseline != options.source || saved->granularity != granularity ||
          saved->disk_bytes != options.disk_bytes || saved->words.size() != state.words.size())
        return make_error("{} belongs to another restore ({}, {} bytes), not {}", path,
                          saved->baseline, saved->disk_bytes, options.source);
      if (TRY(sys::exists(options.image)))
        state = std::move(*saved);
      else  // the blocks it lists went with the image: start over
        TRY(save_bitmap_file(path, state));
    } else {
      // The state first: an image without one is somebody's disk, never overwritten.
      if (TRY(sys::exists(options.image)))
        return make_error("{} exists and is not being restored; refusing to overwrite it",
                          options.image);
      TRY(save_bitmap_file(path, state));
    }
  } else {
    flags |= O_TRUNC;  // throwaway: always starts empty
  }
  auto fd = TRY(sys::open(options.image, flags, 0600));
  struct stat st = TRY(sys::stat_fd(fd.get(), options.image));
  if (st.st_size == 0) {
    // A fresh image; or one cut to nothing since, whose fetched blocks would read as zeros.
    uint64_t fetched = 0;
    for (uint64_t word : state.words) fetched += static_cast<uint64_t>(std::popcount(word));
    if (fetched != 0)
      return make_error("{} is empty, but its restore state lists {} blocks as fetched",
                        options.image, fetched);
    TRY(sys::resize(fd.get(), options.disk_bytes, options.image));
  } else if (static_cast<uint64_t>(st.st_size) != options.disk_bytes) {
    return make_error("{} has {} bytes, the backup {}", options.image, st.st_size,
                      options.disk_bytes);
  }
  return std::make_unique<HydratingImage>(std::move(fd), options, std::move(fetch),
                                          std::move(state.words), state.valid);
}

HydratingImage::HydratingImage(UniqueFd fd, Options options, Fetch fetch,
                               std::vector<uint64_t> present, bool complete)
    : m_fd(std::move(fd)),
      m_options(std::move(options)),
      m_blocks((m_options.disk_bytes + m_options.granularity - 1) / m_options.granularity),
      m_fetch(complete ? nullptr : std::move(fetch)),  // a complete image reads no source
      m_present(std::move(present)),
      m_present_count(count_bits(m_present)),
      m_fill_paused(m_options.fill_paused),
      m_complete(complete) {}

HydratingImage::~HydratingImage() {
  if (m_thread.joinable()) {
    m_thread.request_stop();
    m_thread.join();
  }
  if (m_options.persistent)
    if (auto saved = persist(); !saved)
      log::error("{}: {} (blocks fetched since the last flush will be fetched again)",
                 m_options.image, saved.error().message());
}

uint64_t HydratingImage::block_bytes(uint64_t index) const {
  uint64_t offset = index * m_options.granularity;
  return std::min<uint64_t>(m_options.granularity, m_options.disk_bytes - offset);
}

void HydratingImage::set_present(uint64_t index) {
  m_present[index / 64] |= uint64_t{1} << (index % 64);
  ++m_present_count;
  m_changed = true;
}

Result<void> HydratingImage::fill(uint64_t index, std::vector<uint8_t>& buffer) {
  Fetch fetch;
  {
    MutexLock lock(m_mutex);
    if (is_present(index)) return {};
    fetch = m_fetch;
  }
  if (!fetch) return make_error("block {} has no source", index);
  // Fetched outside the lock: progress() (`haven vm show`) and the background pass are not
  // held up behind a slow source (the first fetch may wait for the repository to open).
  buffer.resize(block_bytes(index));
  TRY(fetch(index, buffer));
  MutexLock lock(m_mutex);
  if (is_present(index)) return {};  // the background pass wrote it meanwhile
  TRY(write_block(index, buffer));
  m_fetched_bytes += buffer.size();
  set_present(index);
  return {};
}

Result<void> HydratingImage::write_block(uint64_t index, std::span<const uint8_t> data) {
  uint64_t offset = index * m_options.granularity;
  return with_context(all_zero(data)
                          ? sys::zero_range(m_fd.get(), offset, data.size(), m_options.image)
                          : sys::write_at(m_fd.get(), data, offset),
                      "{}", m_options.image);
}

bool HydratingImage::replaced(uint64_t index, uint64_t offset, uint64_t end, bool overwrite) const {
  uint64_t start = index * m_options.granularity;
  return overwrite && offset <= start && start + block_bytes(index) <= end;
}

bool HydratingImage::try_prepare(uint64_t offset, uint64_t length, bool overwrite) {
  if (complete() || length == 0) return true;
  uint64_t end = std::min(offset + length, m_options.disk_bytes);
  if (offset >= end) return true;
  const uint64_t granularity = m_options.granularity;
  MutexLock lock(m_mutex);
  for (uint64_t index = offset / granularity; index * granularity < end; ++index)
    if (!is_present(index) && !replaced(index, offset, end, overwrite)) return false;
  hold_replaced(offset, end, overwrite);
  return true;
}

Result<void> HydratingImage::prepare(uint64_t offset, uint64_t length, bool overwrite) {
  if (complete() || length == 0) return {};
  uint64_t end = std::min(offset + length, m_options.disk_bytes);
  if (offset >= end) return {};
  const uint64_t granularity = m_options.granularity;
  // Only once every fetch succeeded is anything held: when one fails the write is not made,
  // and a block marked present that it never wrote would read as zeros instead of the
  // backup's data. The check that every block is present and the hold are one step
  // (try_prepare): a block found present before a fetch of another may be missing again by
  // the end of it (a whole write to it failed meanwhile), and is then filled again.
  while (true) {
    for (uint64_t index = offset / granularity; index * granularity < end; ++index) {
      if (replaced(index, offset, end, overwrite)) continue;  // whole, by the write: no fetch
      TRY(with_context(fill(index, m_buffer), "{}: block {} (disk offset {})", m_options.image,
                       index, index * granularity));
    }
    if (try_prepare(offset, length, overwrite)) return {};
  }
}

// Unsettled until the writes to it complete (settle()): persist() leaves them out meanwhile, so
// a crash before the data lands never lists a block that holds neither old nor new data.
// Another write to an unsettled block counts too: the block settles with the last of them,
// present if any landed.
void HydratingImage::hold_replaced(uint64_t offset, uint64_t end, bool overwrite) {
  if (!overwrite) return;  // a read settles nothing: it must not count as a write
  const uint64_t granularity = m_options.granularity;
  for (uint64_t index = offset / granularity; index * granularity < end; ++index) {
    if (auto found = m_unsettled.find(index); found != m_unsettled.end()) {
      ++found->second.writes;
    } else if (!is_present(index) && replaced(index, offset, end, overwrite)) {
      set_present(index);
      m_unsettled.emplace(index, Unsettled{});
    }
  }
}

void HydratingImage::settle(uint64_t offset, uint64_t length, bool landed) {
  if (length == 0) return;
  MutexLock lock(m_mutex);
  if (m_unsettled.empty()) return;
  uint64_t end = std::min(offset + length, m_options.disk_bytes);
  for (uint64_t index = offset / m_options.granularity; index * m_options.granularity < end;
       ++index) {
    auto found = m_unsettled.find(index);
    if (found == m_unsettled.end()) continue;
    found->second.landed |= landed;
    if (--found->second.writes > 0) continue;
    if (!found->second.landed) {  // what the block holds is neither: the backup's comes back
      m_present[index / 64] &= ~(uint64_t{1} << (index % 64));
      --m_present_count;
    }
    m_unsettled.erase(found);
    m_changed = true;
  }
}

Result<void> HydratingImage::persist() {
  if (!m_options.persistent) return {};
  MutexLock persisting(m_persist_mutex);
  TrackingState state;
  {
    MutexLock lock(m_mutex);
    if (!m_changed) return {};
    m_changed = false;
    state.granularity = m_options.granularity;
    state.disk_bytes = m_options.disk_bytes;
    state.baseline = m_options.source;
    state.valid = m_present_count == m_blocks && m_unsettled.empty();
    state.words = m_present;
    for (const auto& [index, unsettled] : m_unsettled)
      state.words[index / 64] &= ~(uint64_t{1} << (index % 64));
  }
  // Every block listed has been written; it must be on disk before the list is.
  auto saved = [&]() -> Result<void> {
    TRY(m_options.sync_data(m_fd.get(), m_options.image));
    return save_bitmap_file(state_path(m_options.image), state);
  }();
  if (saved && state.valid) {  // complete and durable: a plain image from now on
    MutexLock lock(m_mutex);
    m_fetch = nullptr;
    m_complete.store(true, std::memory_order_release);
  }
  if (!saved) {
    MutexLock lock(m_mutex);
    m_changed = true;  // try again next time
  }
  return saved;
}

void HydratingImage::start_hydration(std::function<void(const HydrationProgress&)> done) {
  if (!m_options.persistent || m_thread.joinable()) return;
  m_done = std::move(done);
  start_pass();
}

void HydratingImage::start_pass() {
  {
    MutexLock lock(m_mutex);
    m_filling = true;
    m_failed = 0;  // counted again by this pass
  }
  m_thread = std::jthread([this](std::stop_token stop) {
    enter_thread_kind(ThreadKind::device_worker);
    hydrate(stop, m_done);
  });
}

void HydratingImage::hydrate(std::stop_token stop,
                             std::function<void(const HydrationProgress&)> done) {
  using Clock = std::chrono::steady_clock;
  auto persisted_at = Clock::now();
  std::vector<uint8_t> buffer;
  uint64_t failed = 0;
  for (uint64_t index = 0; index < m_blocks && !stop.stop_requested(); ++index) {
    bool paused = false;
    {
      MutexLock lock(m_mutex);
      paused = m_fill_paused;
    }
    if (paused) {  // what is there is made durable, then the pass waits to be let go on
      if (auto saved = persist(); !saved) log::warn("{}", saved.error().message());
      MutexUniqueLock lock(m_mutex);
      m_fill_resumed.wait(lock.native(), stop,
                          [&]() HAVEN_REQUIRES(m_mutex) { return !m_fill_paused; });
      if (stop.stop_requested()) break;
    }
    Fetch fetch;
    {
      MutexLock lock(m_mutex);
      if (is_present(index)) continue;
      fetch = m_fetch;
    }
    // Fetched outside the lock, so the guest's I/O is not held up behind it.
    buffer.resize(block_bytes(index));
    if (auto fetched = fetch ? fetch(index, buffer) : make_error("no source"); !fetched) {
      log::error("{}: hydrating block {} (disk offset {}): {}", m_options.image, index,
                 index * m_options.granularity, fetched.error().message());
      ++failed;
      MutexLock lock(m_mutex);
      m_failed = failed;
      continue;
    }
    {
      MutexLock lock(m_mutex);
      if (!is_present(index)) {  // else the guest wrote it meanwhile: its data wins
        if (auto written = write_block(index, buffer); !written) {
          log::error("{}", written.error().message());
          ++failed;
          m_failed = failed;
          continue;
        }
        m_fetched_bytes += buffer.size();
        set_present(index);
      }
    }
    if (Clock::now() - persisted_at > std::chrono::seconds(1)) {
      if (auto saved = persist(); !saved) log::warn("{}", saved.error().message());
      persisted_at = Clock::now();
    }
  }
  // Complete once a persist lists every block (then the source is dropped): with guest
  // writes still in flight, that is a later flush's or the close's.
  if (auto saved = persist(); !saved) log::warn("{}", saved.error().message());
  {
    MutexLock lock(m_mutex);
    m_filling = false;
  }
  if (done) done(progress());
}

void HydratingImage::pause_fill(bool paused) {
  bool ended = false;
  {
    MutexLock lock(m_mutex);
    m_fill_paused = paused;
    ended = !m_filling && m_present_count < m_blocks;
  }
  m_fill_resumed.notify_all();
  // Let go on after a pass that ended with blocks it could not fetch: another pass retries.
  if (!paused && ended && m_thread.joinable()) {
    m_thread.join();
    start_pass();
  }
}

HydrationProgress HydratingImage::progress() const {
  MutexLock lock(m_mutex);
  return {m_present_count, m_blocks,      m_failed, m_fetched_bytes,
          complete(),      m_fill_paused, m_filling};
}

}  // namespace haven::block
