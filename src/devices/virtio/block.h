#pragma once

// virtio-blk (virtio 1.2, 5.2) on a raw image file or block device (block/image_file.h). One
// request queue per vCPU by default (VIRTIO_BLK_F_MQ), each with its own interrupt vector, so
// the guest completes a request on the CPU that issued it, as QEMU's virtio-blk does; reads,
// writes, flushes (fdatasync) and discard/write-zeroes (fallocate) go to the kernel through
// io_uring, many in flight at once. One worker thread serves every queue and lives in its
// ring: the queues' notify eventfds, the stop eventfd and the block stack's ready eventfd are
// polled by the ring itself, so one io_uring_enter both submits the new requests and waits
// for kicks and completions. Between the queue and the image sits the disk's block stack
// (block/stack.h): changed-block tracking, instant restore's hydration, a running backup's
// copy-before-write. A request that must wait for one of them (a fetch, a copy) is prepared on the
// stack's worker while this thread serves the others. get-id answers a serial. A read-only disk
// offers VIRTIO_BLK_F_RO and fails writes. Requests that fall off the end of the disk or have
// no room for their status byte get an error status; a ring that cannot be parsed marks the
// device broken.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "base/uring.h"
#include "block/change_tracker.h"
#include "block/copy_before_write_layer.h"
#include "block/hydrating_image.h"
#include "block/hydration_layer.h"
#include "block/image_file.h"
#include "block/stack.h"
#include "block/tracking_layer.h"
#include "devices/virtio/device.h"
#include "devices/virtio/session.h"
#include "devices/virtio/virtqueue.h"

namespace haven::devices::virtio {

struct BlockOptions {
  std::string path;
  bool readonly = false;
  bool direct = false;  // O_DIRECT
  std::string serial;   // at most 20 bytes reach the guest
  // Changed-block tracking in PATH.cbt (src/block/change_tracker.h); not for read-only disks.
  bool track_changes = false;
  // Request queues, 1 to Block::kMaxQueues; more than one offers VIRTIO_BLK_F_MQ.
  uint16_t queues = 1;
};

class Block final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint16_t kMaxQueues = 16;
  static constexpr uint32_t kSectorSize = block::ImageFile::kSectorSize;
  static constexpr uint32_t kIdBytes = 20;  // get-id answer
  // Longest discard or write-zeroes range, in sectors (the config space advertises it).
  static constexpr uint32_t kMaxRangeSectors = 1u << 22;  // 2 GiB

  // Request types and statuses (virtio 1.2, 5.2.6).
  static constexpr uint32_t kTypeIn = 0;
  static constexpr uint32_t kTypeOut = 1;
  static constexpr uint32_t kTypeFlush = 4;
  static constexpr uint32_t kTypeGetId = 8;
  static constexpr uint32_t kTypeDiscard = 11;
  static constexpr uint32_t kTypeWriteZeroes = 13;
  static constexpr uint8_t kStatusOk = 0;
  static constexpr uint8_t kStatusIoError = 1;
  static constexpr uint8_t kStatusUnsupported = 2;

  static constexpr uint64_t kFeatureSegMax = 1ull << 2;
  static constexpr uint64_t kFeatureReadOnly = 1ull << 5;
  static constexpr uint64_t kFeatureBlockSize = 1ull << 6;
  static constexpr uint64_t kFeatureFlush = 1ull << 9;
  static constexpr uint64_t kFeatureMultiQueue = 1ull << 12;
  static constexpr uint64_t kFeatureDiscard = 1ull << 13;
  static constexpr uint64_t kFeatureWriteZeroes = 1ull << 14;

  // `lazy`, when given, is the image being restored under the guest (instant restore): every
  // request first makes the blocks it touches present; a block that cannot be fetched fails
  // the request with an I/O error.
  static Result<std::unique_ptr<Block>> open(const BlockOptions& options,
                                             std::unique_ptr<block::HydratingImage> lazy = {});
  ~Block() override;

  std::string_view name() const override { return "virtio-blk"; }
  DeviceType type() const override { return DeviceType::block; }
  uint32_t pci_class() const override { return 0x018000; }  // mass storage, other
  uint64_t features() const override;
  std::vector<uint16_t> queue_sizes() const override {
    return std::vector<uint16_t>(m_options.queues, kQueueSize);
  }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  Result<void> activate(Activation activation) override;
  void reset() override;
  void pause() override;
  Result<void> resume() override;
  std::vector<std::optional<QueuePosition>> queue_positions() const override {
    return m_session.positions();
  }

  uint64_t capacity_sectors() const { return m_sectors; }
  const std::string& path() const { return m_options.path; }

  // A backup of the running guest (block/point_in_time.h), begun and ended while the device
  // is paused. It wants the blocks changed since `baseline` when changed-block tracking
  // vouches for them, else every block.
  struct BackupView {
    bool incremental = false;  // only the changed blocks are wanted
    uint64_t disk_bytes = 0;
    uint32_t granularity = 0;
    uint64_t wanted_blocks = 0;
  };
  // `granularity`: the backup's chunk size (it reads whole chunks); 0 for the bitmap's.
  Result<BackupView> begin_backup(const std::string& state_path, const std::string& data_path,
                                  const std::string& baseline, uint32_t granularity = 0);
  // Committed: the backup is `baseline` from now on. Otherwise what it took is merged back.
  void end_backup(bool committed, const std::string& baseline);
  // A disk being restored: holds its background fill back or lets it go on; false when the
  // disk is not being restored.
  bool pause_fill(bool paused);
  // Still being restored from a backup (its image lacks chunks).
  bool restoring() const { return m_hydration && !m_hydration->image().complete(); }
  // read_bytes, write_bytes, requests, errors; with tracking, dirty_blocks and cbt_valid;
  // while restoring, hydrated_blocks, total_blocks, hydration_failed, hydration_complete and
  // fetched_bytes; during a backup, backup_copied_blocks.
  DeviceState counters() const override;

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  Block(Key, block::ImageFile image, const BlockOptions& options,
        std::unique_ptr<block::Stack> stack, std::unique_ptr<block::ChangeTracker> tracker,
        std::unique_ptr<block::HydratingImage> lazy);

 private:
  // One request between the queue and its completion: in the block stack's worker or in the
  // io_uring.
  struct Pending {
    DescriptorChain chain;  // given back to the driver when the request completes
    uint16_t queue = 0;     // the one it came from
    memory::GuestAddr status;
    uint32_t used_length = 0;  // bytes the guest sees written (data + status)
    uint32_t type = 0;
    block::Io io;
    std::vector<iovec> iovecs;
  };

  // The worker thread: serves kicks and completions until told to stop or the ring breaks,
  // then waits for every request still in the kernel, so none writes guest memory after reset.
  void run(Worker& worker);
  // Pops what the driver made available on every queue and prepares its I/O (submitted by
  // run()'s next wait), then interrupts for what completed.
  void serve_queues();
  // Parses one request from `queue` and hands it to the block stack, then to the ring, or
  // completes it at once. Errors break the device.
  Result<void> start(uint16_t queue, DescriptorChain chain);
  // Queues the I/O of the request in `slot` in the ring; on failure the request is dropped.
  Result<void> submit(uint32_t slot);
  // One completion of a request in `slot`; false when the device broke.
  bool finish(uint64_t slot, int result);
  // What the block stack's worker finished: prepared requests go to the ring, the others
  // complete. `serving` false (resetting): all are dropped. False when the device broke.
  bool take_ready(bool serving);
  // Completes the request in `slot` (status ok or I/O error) and frees the slot.
  bool respond(uint64_t slot, bool ok);
  // A request in `slot` whose completion is discarded (reset).
  void drop(uint64_t slot);
  Result<void> complete(uint16_t queue, DescriptorChain chain, memory::GuestAddr status,
                        uint8_t value, uint32_t used_length);
  // Interrupts for every queue with completions the driver has not been told of.
  void notify_queues();
  // Before the worker ends: cancels the polls and reaps every completion (discarding them)
  // until the ring holds nothing. With DEFER_TASKRUN only the worker can run the ring's
  // deferred work, so anything left armed would keep the ring's teardown retrying forever
  // (seen on Linux 6.1: every VMM exit left a kernel worker spinning, until the rig stalled).
  void empty_ring(bool stop_armed);

  // io_uring user data: request slots are below kMaxQueues * kQueueSize; queue q's kicks are
  // kKickTag + q.
  static constexpr uint64_t kStopTag = uint64_t{1} << 32;
  static constexpr uint64_t kCancelTag = kStopTag + 1;
  static constexpr uint64_t kReadyTag = kStopTag + 2;
  static constexpr uint64_t kKickTag = uint64_t{2} << 32;
  bool is_kick(uint64_t tag) const { return tag >= kKickTag && tag < kKickTag + m_options.queues; }

  block::ImageFile m_image;  // the bottom of the stack
  BlockOptions m_options;
  // Layers (held by the stack too), destroyed after the worker (reset() in the destructor):
  // the tracker's last write-back sees every mark; the hydrating image stops its background
  // thread before the image's fd goes.
  std::shared_ptr<block::TrackingLayer> m_tracking;
  std::shared_ptr<block::HydrationLayer> m_hydration;
  std::shared_ptr<block::CopyBeforeWriteLayer> m_view;  // a running backup's
  std::unique_ptr<block::Stack> m_stack;
  uint64_t m_sectors;
  std::array<uint8_t, 60> m_config{};

  std::unique_ptr<Uring> m_uring;
  std::vector<Pending> m_pending;  // by slot: kQueueSize for each queue
  std::vector<uint32_t> m_free;    // free slots
  uint32_t m_in_flight = 0;        // started and neither completed nor dropped
  // Set while pausing for a snapshot: on stop, requests in flight complete normally (a reset
  // discards them instead). Written before the worker is told to stop, read by it after.
  std::atomic<bool> m_draining{false};
  std::atomic<uint64_t> m_read_bytes{0}, m_write_bytes{0}, m_requests{0}, m_errors{0};
  Session m_session;  // last: its worker stops before the ring goes
};

}  // namespace haven::devices::virtio
