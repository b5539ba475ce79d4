#pragma once

// Instant restore: a local disk image that fills itself from a backup. The guest runs on the
// local image from the first second; a block (one backup chunk) the local image does not
// have yet is fetched (by the caller's `Fetch`: read, verified, decrypted, decompressed)
// the first time the guest touches it, and a background thread fetches the rest. Guest
// writes land in the local image, which is also the copy-on-write overlay: a write that
// covers a block whole needs nothing fetched, a partial one fetches the block first. When
// every block is present the image is a plain disk image and the backup is no longer read
// (the switch happens under the running guest).
//
// Which blocks are present is kept in IMAGE.hydration (bitmap_file.h's format; `valid`
// means complete, `baseline` names the source), rewritten after the image's data is synced:
// periodically while hydrating and whenever the guest flushes. After a crash, blocks the
// file does not list are fetched again, which only undoes guest writes the guest never
// flushed. A throwaway image (boot verification) keeps no file and hydrates nothing.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/mutex.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "block/bitmap_file.h"

namespace haven::block {

struct HydrationProgress {
  uint64_t present_blocks = 0;
  uint64_t total_blocks = 0;
  uint64_t failed_blocks = 0;  // fetches that failed in the background pass
  uint64_t fetched_bytes = 0;  // from the backup, by guest reads and the background
  bool complete = false;
  bool paused = false;   // the background pass waits (pause_fill)
  bool filling = false;  // the background pass runs (paused or not)
};

class HydratingImage {
 public:
  // Fills `data` (the block's bytes: the granularity, less for the last block) with block
  // `index` of the source. Called from the device's I/O thread and the background thread.
  using Fetch = std::function<Result<void>(uint64_t index, std::span<uint8_t> data)>;

  struct Options {
    std::string image;  // created (sparse, `disk_bytes`) when missing
    uint64_t disk_bytes = 0;
    uint32_t granularity = 0;  // a power of two, at least 4 KiB
    std::string source;        // what fills it; a state file for another source is refused
    bool persistent = true;    // false: a throwaway image (no state file, no background)
    bool fill_paused = false;  // the background pass starts paused (pause_fill(false) goes on)
    // How persist() makes the written blocks durable before it lists them (fdatasync); a seam
    // for tests of a failing disk.
    std::function<Result<void>(int fd, const std::string& path)> sync_data = sys::sync_data;
  };

  // The image's state path, "IMAGE.hydration".
  static std::string state_path(const std::string& image);
  // Whether IMAGE.hydration says the image is complete (it is then a plain image).
  static bool is_complete(const std::string& image);
  // Whether IMAGE is being restored: its state file is there and does not say complete (a
  // state file that cannot be read counts as restoring).
  static bool is_restoring(const std::string& image);
  // IMAGE.hydration as saved (its disk size, block size and source), if it can be read.
  static std::optional<TrackingState> saved_state(const std::string& image);
  static Result<std::unique_ptr<HydratingImage>> open(const Options& options, Fetch fetch);
  ~HydratingImage();
  HydratingImage(const HydratingImage&) = delete;
  HydratingImage& operator=(const HydratingImage&) = delete;

  // Before the guest's I/O to [offset, offset + length): makes every block it touches
  // present, fetching the missing ones. `overwrite`: the I/O replaces the range, so blocks it
  // covers whole are only marked present. Fails when a fetch does (no block the range covers
  // whole is marked then). From one thread at a time (the block stack's worker).
  Result<void> prepare(uint64_t offset, uint64_t length, bool overwrite);
  // prepare() when it needs no fetch: true, with the same bookkeeping, when every block the
  // I/O touches is present or replaced whole; false, changing nothing, otherwise. Never
  // blocks on a fetch (the device's I/O thread).
  bool try_prepare(uint64_t offset, uint64_t length, bool overwrite);
  // Once after each guest write that prepare(..., true) announced, when it ended. A block a
  // write replaced whole settles with the last write to it then in flight: if any landed, it
  // may be listed as present from now on; if all failed or were dropped (a device reset), it
  // is missing again and the backup's data is fetched at the next touch.
  void settle(uint64_t offset, uint64_t length, bool landed = true);
  // After the guest's flush completed: makes what is present durable (a no-op when nothing
  // changed since the last time).
  Result<void> persist();
  // Starts the background pass (persistent images only); `done` is called from its thread
  // when it ends, complete or not.
  void start_hydration(std::function<void(const HydrationProgress&)> done = {});
  // Holds the background pass back (the guest's own reads still fetch), or lets it go on:
  // say, to keep an offsite link free during business hours. Let go on after a pass ended
  // with blocks it could not fetch, a new pass retries them. Not thread-safe against
  // start_hydration (one controlling thread).
  void pause_fill(bool paused);
  HydrationProgress progress() const;
  bool complete() const { return m_complete.load(std::memory_order_acquire); }
  // Whether it keeps a state file (false: a throwaway image).
  bool persistent() const { return m_options.persistent; }

  // `complete`: the state file says so (the image is a plain disk).
  HydratingImage(UniqueFd fd, Options options, Fetch fetch, std::vector<uint64_t> present,
                 bool complete);

 private:
  uint64_t block_bytes(uint64_t index) const;
  bool is_present(uint64_t index) const HAVEN_REQUIRES(m_mutex) {
    return m_present[index / 64] >> (index % 64) & 1;
  }
  void set_present(uint64_t index) HAVEN_REQUIRES(m_mutex);
  // Whether block `index` lies whole in [offset, end) and an overwrite replaces it.
  bool replaced(uint64_t index, uint64_t offset, uint64_t end, bool overwrite) const;
  // Marks the blocks an overwrite of [offset, end) replaces present and unsettled; counts
  // another write to those already unsettled. Under m_mutex.
  void hold_replaced(uint64_t offset, uint64_t end, bool overwrite) HAVEN_REQUIRES(m_mutex);
  // Fetches block `index` (unless present) and writes it to the image; takes m_mutex only
  // around the bookkeeping and the write, not the fetch.
  Result<void> fill(uint64_t index, std::vector<uint8_t>& buffer);
  // Block `index` of the image becomes `data`. A block of zeros is a hole: never written on a
  // fresh image, but punched anyway, since a write that failed (or an unsettled one before a
  // crash, on a reopened image) may have left part of its data there.
  Result<void> write_block(uint64_t index, std::span<const uint8_t> data);
  void start_pass();
  void hydrate(std::stop_token stop, std::function<void(const HydrationProgress&)> done);

  UniqueFd m_fd;
  Options m_options;
  uint64_t m_blocks = 0;
  mutable Mutex m_mutex;
  Mutex m_persist_mutex;  // one persist at a time, so an older state never lands last
  Fetch m_fetch HAVEN_GUARDED_BY(m_mutex);  // dropped once complete: the source is closed
  std::vector<uint64_t> m_present HAVEN_GUARDED_BY(m_mutex);
  uint64_t m_present_count HAVEN_GUARDED_BY(m_mutex) = 0;
  // Blocks a write replaces whole, marked present before it lands: until every write to the
  // block then in flight completed (settle()), and whether any of them landed.
  struct Unsettled {
    uint32_t writes = 1;
    bool landed = false;
  };
  std::unordered_map<uint64_t, Unsettled> m_unsettled HAVEN_GUARDED_BY(m_mutex);
  uint64_t m_failed HAVEN_GUARDED_BY(m_mutex) = 0;
  uint64_t m_fetched_bytes HAVEN_GUARDED_BY(m_mutex) = 0;
  bool m_changed HAVEN_GUARDED_BY(m_mutex) = false;  // since the last persist
  bool m_fill_paused HAVEN_GUARDED_BY(m_mutex) = false;
  bool m_filling HAVEN_GUARDED_BY(m_mutex) = false;
  std::condition_variable_any m_fill_resumed;
  std::atomic<bool> m_complete{false};
  std::vector<uint8_t> m_buffer;                         // prepare()'s fetches (one thread)
  std::function<void(const HydrationProgress&)> m_done;  // after each pass
  std::jthread m_thread;                                 // last: stops before the rest goes
};

}  // namespace haven::block
