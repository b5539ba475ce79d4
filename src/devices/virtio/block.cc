#include "devices/virtio/block.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "base/sys.h"
#include "devices/virtio/block_request.h"

namespace haven::devices::virtio {
namespace {

using memory::GuestAddr;

template <class T>
void put(std::array<uint8_t, 60>& config, size_t offset, T value) {
  std::memcpy(config.data() + offset, &value, sizeof(T));
}

}  // namespace

Result<std::unique_ptr<Block>> Block::open(const BlockOptions& options,
                                           std::unique_ptr<block::HydratingImage> lazy) {
  if (options.queues < 1 || options.queues > kMaxQueues)
    return make_error("{}: {} request queues (1 to {})", options.path, options.queues, kMaxQueues);
  auto image = TRY(block::ImageFile::open(options.path, options.readonly, options.direct));
  std::unique_ptr<block::ChangeTracker> tracker;
  if (options.track_changes && !options.readonly)  // a read-only disk never changes
    tracker = TRY(
        with_context(block::ChangeTracker::open(options.path, image.bytes()), "{}", options.path));
  else if (!options.readonly)
    block::drop_tracking(options.path);
  auto stack = TRY(block::Stack::create(options.path));
  return std::make_unique<Block>(Key(), std::move(image), options, std::move(stack),
                                 std::move(tracker), std::move(lazy));
}

Block::Block(Key, block::ImageFile image, const BlockOptions& options,
             std::unique_ptr<block::Stack> stack, std::unique_ptr<block::ChangeTracker> tracker,
             std::unique_ptr<block::HydratingImage> lazy)
    : m_image(std::move(image)),
      m_options(options),
      m_stack(std::move(stack)),
      m_sectors(m_image.sectors()) {
  // In the order a request passes them: marked changed, made present, copied aside (a running
  // backup's view, added last, copies what hydration made present).
  if (tracker) {
    m_tracking = std::make_shared<block::TrackingLayer>(std::move(tracker));
    m_stack->add(m_tracking);
  }
  if (lazy) {
    m_hydration = std::make_shared<block::HydrationLayer>(std::move(lazy));
    m_stack->add(m_hydration);
  }
  // Configuration layout (virtio 1.2, 5.2.4).
  put<uint64_t>(m_config, 0, m_sectors);            // capacity
  put<uint32_t>(m_config, 12, kQueueSize - 2);      // seg_max: header and status aside
  put<uint32_t>(m_config, 20, kSectorSize);         // blk_size
  put<uint16_t>(m_config, 34, m_options.queues);    // num_queues
  put<uint32_t>(m_config, 36, kMaxRangeSectors);    // max_discard_sectors
  put<uint32_t>(m_config, 40, 1);                   // max_discard_seg
  put<uint32_t>(m_config, 44, 4096 / kSectorSize);  // discard_sector_alignment
  put<uint32_t>(m_config, 48, kMaxRangeSectors);    // max_write_zeroes_sectors
  put<uint32_t>(m_config, 52, 1);                   // max_write_zeroes_seg
  put<uint8_t>(m_config, 56, 1);                    // write_zeroes_may_unmap
}

Block::~Block() {
  reset();
}

uint64_t Block::features() const {
  uint64_t features = kFeatureSegMax | kFeatureBlockSize | kFeatureFlush;
  if (m_options.queues > 1) features |= kFeatureMultiQueue;
  if (m_options.readonly) return features | kFeatureReadOnly;
  return features | kFeatureDiscard | kFeatureWriteZeroes;
}

DeviceState Block::counters() const {
  DeviceState counters = {{"read_bytes", m_read_bytes.load(std::memory_order_relaxed)},
                          {"write_bytes", m_write_bytes.load(std::memory_order_relaxed)},
                          {"requests", m_requests.load(std::memory_order_relaxed)},
                          {"errors", m_errors.load(std::memory_order_relaxed)}};
  if (m_tracking) {
    const block::ChangeTracker& tracker = m_tracking->tracker();
    counters["dirty_blocks"] = tracker.bitmap().dirty_count();
    counters["cbt_valid"] = tracker.valid();
    counters["cbt_baseline"] = tracker.baseline();
  }
  if (m_hydration) {
    auto progress = m_hydration->image().progress();
    counters["hydrated_blocks"] = progress.present_blocks;
    counters["total_blocks"] = progress.total_blocks;
    counters["hydration_failed"] = progress.failed_blocks;
    counters["hydration_complete"] = progress.complete;
    counters["fetched_bytes"] = progress.fetched_bytes;
    counters["hydration_paused"] = progress.paused;
    counters["hydration_filling"] = progress.filling;
  }
  if (m_view) counters["backup_copied_blocks"] = m_view->view().copied_blocks();
  return counters;
}

Result<Block::BackupView> Block::begin_backup(const std::string& state_path,
                                              const std::string& data_path,
                                              const std::string& baseline, uint32_t granularity) {
  if (restoring()) {
    auto progress = m_hydration->image().progress();
    return make_error(
        "{} is still being restored ({} of {} chunks present): back it up once "
        "its fill completes",
        m_options.path, progress.present_blocks, progress.total_blocks);
  }
  BackupView view;
  view.granularity = granularity ? granularity : block::DirtyBitmap::kDefaultGranularity;
  if (view.granularity < 4096 || (view.granularity & (view.granularity - 1)) != 0)
    return make_error("{}: a backup chunk of {} bytes (a power of two of at least 4 KiB)",
                      m_options.path, view.granularity);
  if (m_view) {  // its backup never ended (havend restarted meanwhile): it is abandoned
    log::warn("{}: an earlier backup view was never ended; it is dropped", m_options.path);
    end_backup(false, {});
  }
  // The whole file, a last partial sector too (which the guest never sees nor writes): the
  // backup is the same whether the guest runs or not.
  view.disk_bytes = m_image.bytes();
  auto view_fd = TRY(sys::open(m_options.path, O_RDONLY | O_CLOEXEC));
  std::vector<uint64_t> wanted;  // empty: every block
  block::ChangeTracker* tracker = m_tracking ? &m_tracking->tracker() : nullptr;
  if (tracker) {
    wanted = tracker->begin_backup();
    view.incremental = tracker->valid() && !baseline.empty() && tracker->baseline() == baseline;
    if (!view.incremental) {
      wanted.clear();
    } else if (view.granularity != tracker->bitmap().granularity()) {
      // The backup reads whole chunks: a chunk is wanted when any tracked block in it changed.
      block::DirtyBitmap changed(tracker->bitmap().disk_bytes(), tracker->bitmap().granularity());
      changed.merge(wanted);
      block::DirtyBitmap chunks(view.disk_bytes, view.granularity);
      for (uint64_t b = 0; b < changed.block_count(); ++b)
        if (changed.is_dirty(b)) chunks.mark(b * changed.granularity(), changed.granularity());
      wanted = chunks.words();
    }
  }
  auto created = block::CopyBeforeWrite::create(state_path, data_path, view_fd.get(),
                                                view.disk_bytes, view.granularity, wanted);
  if (!created) {
    if (tracker) tracker->end_backup(false, {});
    return std::unexpected(std::move(created).error());
  }
  m_view = std::make_shared<block::CopyBeforeWriteLayer>(m_options.path, std::move(view_fd),
                                                         std::move(*created));
  m_stack->add(m_view);
  uint64_t blocks = (view.disk_bytes + view.granularity - 1) / view.granularity;
  view.wanted_blocks = 0;
  if (wanted.empty())
    view.wanted_blocks = blocks;
  else
    for (uint64_t word : wanted)
      view.wanted_blocks += static_cast<uint64_t>(__builtin_popcountll(word));
  return view;
}

bool Block::pause_fill(bool paused) {
  if (!m_hydration) return false;
  m_hydration->image().pause_fill(paused);
  return true;
}

void Block::end_backup(bool committed, const std::string& baseline) {
  if (m_tracking && m_tracking->tracker().backup_pending())
    m_tracking->tracker().end_backup(committed, baseline);
  if (m_view) m_stack->remove(m_view.get());
  m_view.reset();
}

void Block::read_config(uint64_t offset, std::span<uint8_t> data) {
  read_config_bytes(m_config, offset, data);
}

Result<void> Block::activate(Activation activation) {
  m_session.begin(std::move(activation));
  return resume();
}

// A new ring each time: the worker thread that enables a ring is its only submitter.
Result<void> Block::resume() {
  m_draining = false;
  bool any = false;
  for (uint16_t q = 0; q < m_options.queues; ++q) any |= m_session.has_queue(q);
  if (!any) return {};
  // Room for every request, its write-zeroes retry and the polls.
  const uint32_t slots = uint32_t{kQueueSize} * m_options.queues;
  m_uring = TRY(with_context(Uring::create(2 * slots + kMaxQueues + 2), "{}", m_options.path));
  m_pending.clear();
  m_pending.resize(slots);
  m_free.clear();
  for (uint32_t slot = slots; slot-- > 0;) m_free.push_back(slot);
  m_in_flight = 0;
  return m_session.serve_custom("virtio-blk", [this](Worker& worker) { run(worker); });
}

void Block::pause() {
  m_draining = true;  // the worker finishes what is in flight before it ends
  m_session.pause();
  m_uring.reset();
}

void Block::reset() {
  m_session.stop();  // the worker drains the ring before it ends
  m_uring.reset();
}

void Block::run(Worker& worker) {
  if (auto enabled = m_uring->enable(); !enabled) return m_session.fail(enabled.error());
  io_uring* ring = m_uring->get();
  // A multishot poll posts one completion per kick; the eventfd's counter is never read back
  // (it would take 2^64 kicks to fill), which saves a system call per kick. The same for the
  // block stack's ready eventfd.
  auto arm = [&](int fd, uint64_t tag) {
    io_uring_sqe* poll = io_uring_get_sqe(ring);
    io_uring_prep_poll_multishot(poll, fd, POLLIN);
    io_uring_sqe_set_data64(poll, tag);
  };
  for (uint16_t q = 0; q < m_options.queues; ++q)
    if (m_session.has_queue(q)) arm(m_session.notify_fd(q), kKickTag + q);
  arm(m_stack->ready_fd(), kReadyTag);
  io_uring_sqe* stop = io_uring_get_sqe(ring);
  io_uring_prep_poll_add(stop, worker.stop_fd(), POLLIN);
  io_uring_sqe_set_data64(stop, kStopTag);
  bool stop_armed = true;

  serve_queues();  // the driver may have queued requests before DRIVER_OK's kick
  // Pausing, the loop goes on after the stop until the requests in flight are finished.
  auto running = [&] { return stop_armed || (m_draining && m_in_flight > 0); };
  while (running() && !m_session.broken()) {
    if (int err = io_uring_submit_and_wait(ring, 1); err < 0 && err != -EINTR) {
      m_session.fail(Error::from_errno("io_uring_submit_and_wait", -err));
      break;
    }
    unsigned head = 0, seen = 0;
    bool ready = false;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(ring, head, cqe) {
      ++seen;
      uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag == kStopTag) {
        stop_armed = false;
      } else if (is_kick(tag) || tag == kReadyTag) {
        if (!(cqe->flags & IORING_CQE_F_MORE))  // the kernel ended the poll
          arm(tag == kReadyTag ? m_stack->ready_fd()
                               : m_session.notify_fd(static_cast<uint16_t>(tag - kKickTag)),
              tag);
        ready |= tag == kReadyTag;
      } else if (!stop_armed && !m_draining) {
        drop(tag);  // resetting: the guest will not look at it
      } else if (!finish(tag, cqe->res)) {
        break;
      }
    }
    io_uring_cq_advance(ring, seen);
    if (ready && !take_ready(stop_armed || m_draining)) break;
    if (stop_armed)
      serve_queues();  // starts new requests, interrupts for the finished ones
    else if (m_draining)
      notify_queues();
  }
  empty_ring(stop_armed);
}

void Block::empty_ring(bool stop_armed) {
  // The stack's worker first: what it has not started is called off, what it runs is waited
  // for, and all of it is dropped, so nothing of it is left to reach the ring.
  m_stack->cancel();
  m_stack->wait_idle();
  take_ready(false);
  io_uring* ring = m_uring->get();
  // The polls are always armed here (or about to be, by an SQE not submitted yet, which the
  // cancel follows in order).
  std::vector<uint64_t> armed = {kReadyTag};
  for (uint16_t q = 0; q < m_options.queues; ++q)
    if (m_session.has_queue(q)) armed.push_back(kKickTag + q);
  unsigned kicks_armed = static_cast<unsigned>(armed.size() - 1);
  bool ready_armed = true;
  if (stop_armed) armed.push_back(kStopTag);
  unsigned cancels = 0;
  for (uint64_t tag : armed) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    if (!sqe) {
      io_uring_submit(ring);
      sqe = io_uring_get_sqe(ring);
    }
    io_uring_prep_cancel64(sqe, tag, 0);
    io_uring_sqe_set_data64(sqe, kCancelTag);
    ++cancels;
  }
  while (m_in_flight > 0 || kicks_armed > 0 || ready_armed || stop_armed || cancels > 0) {
    if (int err = io_uring_submit_and_wait(ring, 1); err < 0 && err != -EINTR) {
      log::error("{}: io_uring_submit_and_wait: {}", m_options.path, std::strerror(-err));
      return;
    }
    unsigned head = 0, seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(ring, head, cqe) {
      ++seen;
      uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag < m_pending.size())
        drop(tag);
      else if (is_kick(tag) && !(cqe->flags & IORING_CQE_F_MORE))
        --kicks_armed;
      else if (tag == kReadyTag && !(cqe->flags & IORING_CQE_F_MORE))
        ready_armed = false;
      else if (tag == kStopTag)
        stop_armed = false;
      else if (tag == kCancelTag)
        --cancels;
    }
    io_uring_cq_advance(ring, seen);
  }
}

void Block::serve_queues() {
  if (m_session.broken()) return;
  for (uint16_t q = 0; q < m_options.queues; ++q) {
    if (!m_session.has_queue(q)) continue;
    Virtqueue& queue = m_session.queue(q);
    while (!m_free.empty()) {
      auto chain = queue.pop();
      if (!chain) return m_session.fail(chain.error());
      if (!*chain) break;
      if (auto started = start(q, std::move(**chain)); !started)
        return m_session.fail(started.error());
    }
  }
  notify_queues();
}

void Block::notify_queues() {
  // One interrupt per queue (if the driver wants it) for everything finished since the last.
  for (uint16_t q = 0; q < m_options.queues && !m_session.broken(); ++q)
    if (m_session.has_queue(q)) m_session.notify(q);
}

Result<void> Block::complete(uint16_t queue, DescriptorChain chain, GuestAddr status, uint8_t value,
                             uint32_t used_length) {
  TRY(m_session.memory().write<uint8_t>(status, value));
  return m_session.queue(queue).push_used(std::move(chain), used_length);
}

Result<void> Block::start(uint16_t queue, DescriptorChain chain) {
  BlockRequest request = TRY(parse_block_request(
      m_session.memory(), chain, {m_sectors, m_options.readonly, kMaxRangeSectors}));
  using Kind = BlockRequest::Kind;
  if (request.kind == Kind::complete)
    return complete(queue, std::move(chain), request.status, request.status_value, 1);
  if (request.kind == Kind::get_id) {
    std::array<uint8_t, kIdBytes> id{};
    std::memcpy(id.data(), m_options.serial.data(),
                std::min<size_t>(m_options.serial.size(), kIdBytes));
    size_t at = 0;
    for (const iovec& piece : request.data) {
      std::memcpy(piece.iov_base, id.data() + at, piece.iov_len);
      at += piece.iov_len;
    }
    return complete(queue, std::move(chain), request.status, kStatusOk, request.used_length);
  }

  uint32_t slot = m_free.back();
  m_free.pop_back();
  ++m_in_flight;
  Pending& pending = m_pending[slot];
  pending.chain = std::move(chain);
  pending.queue = queue;
  pending.status = request.status;
  pending.used_length = request.used_length;
  pending.type = request.type;
  pending.iovecs = std::move(request.data);
  pending.io.offset = request.offset;
  pending.io.length = request.length;
  pending.io.unmap = request.unmap;
  switch (request.kind) {
    case Kind::read:
      pending.io.kind = block::Io::Kind::read;
      break;
    case Kind::write:
      pending.io.kind = block::Io::Kind::write;
      break;
    case Kind::flush:
      pending.io.kind = block::Io::Kind::flush;
      break;
    case Kind::discard:
      pending.io.kind = block::Io::Kind::discard;
      break;
    default:
      pending.io.kind = block::Io::Kind::write_zeroes;
      break;
  }
  if (!m_stack->before(slot, pending.io)) return {};  // the stack's worker hands it back
  return submit(slot);
}

Result<void> Block::submit(uint32_t slot) {
  Pending& pending = m_pending[slot];
  io_uring_sqe* sqe = io_uring_get_sqe(m_uring->get());
  if (!sqe) {  // the device breaks: the request is dropped
    drop(slot);
    return make_error("io_uring submission queue full");
  }
  m_image.prepare(sqe, pending.io, pending.iovecs);
  io_uring_sqe_set_data64(sqe, slot);
  return {};
}

void Block::drop(uint64_t slot) {
  if (slot >= m_pending.size()) return;
  --m_in_flight;
  // A write the guest will never hear of: a restoring disk must not count its blocks present.
  m_stack->finished(m_pending[slot].io, false);
}

bool Block::take_ready(bool serving) {
  bool alive = serving && !m_session.broken();
  for (block::Stack::Ready& ready : m_stack->take_ready()) {
    uint64_t slot = ready.tag;
    bool prepared = ready.phase == block::Stack::Phase::before && ready.result;
    if (!alive) {  // resetting, or broken: nothing more reaches the ring or the guest
      --m_in_flight;
      if (prepared) m_stack->finished(m_pending[slot].io, false);
      continue;
    }
    if (prepared) {
      if (auto submitted = submit(static_cast<uint32_t>(slot)); !submitted) {
        m_session.fail(submitted.error());
        alive = false;
      }
      continue;
    }
    // A preparation that failed (a fetch), or a flush whose state was made durable or not.
    if (!ready.result)
      log::error(
          "{}{}", ready.result.error().message(),
          ready.phase == block::Stack::Phase::before ? " (the guest gets an I/O error)" : "");
    if (!respond(slot, ready.result.has_value())) alive = false;
  }
  return alive || !serving;
}

bool Block::respond(uint64_t slot, bool ok) {
  --m_in_flight;
  Pending& pending = m_pending[slot];
  m_requests.fetch_add(1, std::memory_order_relaxed);
  if (!ok)
    m_errors.fetch_add(1, std::memory_order_relaxed);
  else if (pending.type == kTypeIn)
    m_read_bytes.fetch_add(pending.io.length, std::memory_order_relaxed);
  else if (pending.type == kTypeOut)
    m_write_bytes.fetch_add(pending.io.length, std::memory_order_relaxed);
  auto completed = complete(pending.queue, std::move(pending.chain), pending.status,
                            ok ? kStatusOk : kStatusIoError, ok ? pending.used_length : 1);
  pending.iovecs.clear();
  m_free.push_back(static_cast<uint32_t>(slot));
  if (!completed) m_session.fail(completed.error());
  return completed.has_value();
}

bool Block::finish(uint64_t slot, int result) {
  if (slot >= m_pending.size()) return true;
  Pending& pending = m_pending[slot];
  if (block::ImageFile::retry_as_hole(pending.io, result)) {
    pending.io.unmap = true;
    if (io_uring_sqe* sqe = io_uring_get_sqe(m_uring->get())) {
      m_image.prepare(sqe, pending.io, pending.iovecs);
      io_uring_sqe_set_data64(sqe, slot);
      return true;
    }
  }
  const uint64_t expected = block::ImageFile::expected(pending.io);
  bool ok = result >= 0 && static_cast<uint64_t>(result) == expected;
  if (!ok) {
    if (result < 0)
      log::warn("{}: request type {} failed: {}", m_options.path, pending.type,
                std::strerror(-result));
    else
      log::warn("{}: short transfer ({} of {} bytes)", m_options.path, result, expected);
  }
  m_stack->finished(pending.io, ok);
  // A flush completes once the layers made their state durable (a restoring image's list of
  // what it holds): on the stack's worker when there is any.
  if (ok && pending.io.kind == block::Io::Kind::flush && !m_stack->after_flush(slot)) return true;
  return respond(slot, ok);
}

}  // namespace haven::devices::virtio
