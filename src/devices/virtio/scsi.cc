#include "devices/virtio/scsi.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "base/file_lock.h"
#include "base/log.h"
#include "base/sys.h"
#include "devices/virtio/buffers.h"

namespace haven::devices::virtio {
namespace {

using scsi::CdRom;
namespace opcode = scsi::opcode;

// Configuration layout (virtio 1.2, 5.6.4).
constexpr size_t kConfigBytes = 36;
constexpr uint64_t kSenseSizeOffset = 20;
constexpr uint64_t kCdbSizeOffset = 24;
constexpr uint32_t kEventInfoSize = 16;

template <class T>
void put_le(std::span<uint8_t> bytes, size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof(T));  // x86: little-endian already
}

// Fills `iovecs` from `offset` on, through short reads and EINTR; end of file is an error (the
// image shrank under the guest).
Result<void> read_fully(int fd, std::vector<iovec> iovecs, uint64_t offset) {
  size_t first = 0;
  while (first < iovecs.size()) {
    int count = static_cast<int>(std::min<size_t>(iovecs.size() - first, IOV_MAX));
    ssize_t got = ::preadv(fd, iovecs.data() + first, count, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno_error("preadv at {}", offset);
    if (got == 0) return make_error("preadv at {}: end of file", offset);
    offset += static_cast<uint64_t>(got);
    for (auto left = static_cast<size_t>(got); left > 0;) {
      size_t take = std::min(left, iovecs[first].iov_len);
      iovecs[first].iov_base = static_cast<uint8_t*>(iovecs[first].iov_base) + take;
      iovecs[first].iov_len -= take;
      left -= take;
      if (iovecs[first].iov_len == 0) ++first;
    }
  }
  return {};
}

// REPORT LUNS (SPC-4 6.33), answered by the target: one logical unit, 0.
scsi::Response report_luns(std::span<const uint8_t> cdb) {
  uint32_t allocation = scsi::load_be32(cdb, 6);
  // SELECT REPORT beyond 2 is vendor-specific or reserved; an allocation under 16 bytes is
  // invalid (SPC-4 6.33).
  if (cdb[2] > 2 || allocation < 16) return scsi::check_condition(scsi::kSenseInvalidField);
  std::vector<uint8_t> data(16, 0);
  scsi::store_be32(data, 0, 8);  // the list: LUN 0's eight bytes (all zero)
  return scsi::good(std::move(data), allocation);
}

// A logical unit target 0 does not have (SPC-4 6.6.2, SAM-5 5.9.6): INQUIRY says "not capable
// of a device here" (qualifier 3, type 0x1f), REQUEST SENSE returns LOGICAL UNIT NOT SUPPORTED
// as its data, everything else fails with it.
scsi::Response absent_lun(std::span<const uint8_t> cdb) {
  size_t length = cdb.empty() ? 0 : scsi::cdb_length(cdb[0]);
  if (length == 0 || cdb.size() < length) return scsi::check_condition(scsi::kSenseInvalidOpcode);
  if (cdb[0] == opcode::kRequestSense) {
    auto sense = CdRom::fixed_sense(scsi::kSenseLunNotSupported);
    return scsi::good({sense.begin(), sense.end()}, cdb[4]);
  }
  if (cdb[0] != opcode::kInquiry) return scsi::check_condition(scsi::kSenseLunNotSupported);
  bool vpd = cdb[1] & 0x01;
  if ((cdb[1] & 0x02) || cdb[2] != 0) return scsi::check_condition(scsi::kSenseInvalidField);
  std::vector<uint8_t> data = {0x7f, 0x00, 0x00, 0x01, 0x00};  // VPD: page 0 lists itself
  if (!vpd) {
    data.assign(36, 0);
    data[0] = 0x7f;
    data[4] = 36 - 5;
  }
  return scsi::good(std::move(data), scsi::load_be16(cdb, 3));
}

}  // namespace

Result<std::unique_ptr<Scsi>> Scsi::open(const std::string& iso_path) {
  auto fd = TRY(sys::open_data_file(iso_path, O_RDONLY | O_CLOEXEC, true));
  if (!TRY(sys::try_lock_where_supported(fd.get(), sys::LockMode::shared,
                                         iso_path)))  // as a read-only disk
    return make_error("{} is being written by {}; a guest cannot read a disk another one writes",
                      iso_path, sys::describe_lock_holders(fd.get()));
  uint64_t bytes = TRY(sys::image_size(fd.get(), iso_path));
  if (bytes < CdRom::kBlockSize) return make_error("{}: an empty CD image", iso_path);
  if (bytes % CdRom::kBlockSize)
    log::warn("{}: size {} is not a multiple of 2048; the guest sees {} bytes", iso_path, bytes,
              bytes / CdRom::kBlockSize * CdRom::kBlockSize);
  return std::make_unique<Scsi>(Key(), std::move(fd), iso_path, bytes);
}

Scsi::Scsi(Key, UniqueFd fd, std::string path, uint64_t media_bytes)
    : m_fd(std::move(fd)),
      m_path(std::move(path)),
      m_media_bytes(media_bytes),
      m_cdrom(media_bytes, "1.0", uint64_t{kMaxSectors} * 512) {}

Scsi::~Scsi() {
  m_session.stop();
}

DeviceState Scsi::counters() const {
  return {{"read_bytes", m_read_bytes.load(std::memory_order_relaxed)},
          {"requests", m_requests.load(std::memory_order_relaxed)}};
}

void Scsi::read_config(uint64_t offset, std::span<uint8_t> data) {
  std::array<uint8_t, kConfigBytes> config{};
  put_le<uint32_t>(config, 0, 1);               // num_queues: request queues
  put_le<uint32_t>(config, 4, kQueueSize - 2);  // seg_max: the two headers aside
  put_le<uint32_t>(config, 8, kMaxSectors);
  put_le<uint32_t>(config, 12, kQueueSize);  // cmd_per_lun
  put_le<uint32_t>(config, 16, kEventInfoSize);
  put_le<uint32_t>(config, kSenseSizeOffset, m_sense_size.load(std::memory_order_relaxed));
  put_le<uint32_t>(config, kCdbSizeOffset, m_cdb_size.load(std::memory_order_relaxed));
  // max_channel, max_target and max_lun stay 0: one LUN on one target, so OVMF and Linux scan
  // nothing else.
  read_config_bytes(config, offset, data);
}

void Scsi::write_config(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kConfigBytes) return;
  // Byte by byte, so that 1-, 2- and 4-byte writes all land.
  for (size_t i = 0; i < data.size() && offset + i < kConfigBytes; ++i) {
    uint64_t at = offset + i;
    std::atomic<uint32_t>* field = nullptr;
    if (at >= kSenseSizeOffset && at < kSenseSizeOffset + 4) field = &m_sense_size;
    if (at >= kCdbSizeOffset && at < kCdbSizeOffset + 4) field = &m_cdb_size;
    if (!field) continue;  // read-only
    unsigned shift = 8 * static_cast<unsigned>(at % 4);
    uint32_t value = field->load(std::memory_order_relaxed);
    value = (value & ~(0xffu << shift)) | uint32_t{data[i]} << shift;
    field->store(value, std::memory_order_relaxed);
  }
}

Result<void> Scsi::activate(Activation activation) {
  // Queues that start where a snapshot left them belong to a guest that saw the power-on unit
  // attention long ago; a second one would fail its next read (Linux's sr takes a unit
  // attention on a removable device for a medium change).
  bool restored =
      std::any_of(activation.queues.begin(), activation.queues.end(),
                  [](const auto& queue) { return queue && queue->position() != QueuePosition{}; });
  if (restored) m_cdrom.clear_unit_attention();
  m_session.begin(std::move(activation));
  return resume();
}

Result<void> Scsi::resume() {
  std::vector<Worker::Watch> watches;
  if (m_session.has_queue(kControlQueue))
    watches.push_back({m_session.notify_fd(kControlQueue), [this] { serve_control(); }, true});
  if (m_session.has_queue(kRequestQueue))
    watches.push_back({m_session.notify_fd(kRequestQueue), [this] { serve_requests(); }, true});
  if (watches.empty()) return {};  // firmware that enabled neither: nothing to serve
  TRY(m_session.serve("virtio-scsi", std::move(watches)));
  // Requests made available before DRIVER_OK or while paused may have no kick to come: one of
  // our own serves them.
  for (uint16_t index : {kControlQueue, kRequestQueue})
    if (m_session.has_queue(index)) ::eventfd_write(m_session.notify_fd(index), 1);
  return {};
}

void Scsi::reset() {
  m_session.stop();
  // A virtio reset resets the SCSI bus behind it (as QEMU's): the drive reports it.
  m_cdrom.reset();
  m_sense_size = kDefaultSenseSize;
  m_cdb_size = kDefaultCdbSize;
}

void Scsi::serve_requests() {
  if (m_session.broken()) return;
  Virtqueue& queue = m_session.queue(kRequestQueue);
  while (true) {
    auto chain = queue.pop();
    if (!chain) return m_session.fail(chain.error());
    if (!*chain) break;
    auto written = command(**chain);
    if (!written) return m_session.fail(written.error());
    if (auto pushed = queue.push_used(std::move(**chain), *written); !pushed)
      return m_session.fail(pushed.error());
  }
  m_session.notify(kRequestQueue);
}

void Scsi::serve_control() {
  if (m_session.broken()) return;
  Virtqueue& queue = m_session.queue(kControlQueue);
  while (true) {
    auto chain = queue.pop();
    if (!chain) return m_session.fail(chain.error());
    if (!*chain) break;
    auto written = control(**chain);
    if (!written) return m_session.fail(written.error());
    if (auto pushed = queue.push_used(std::move(**chain), *written); !pushed)
      return m_session.fail(pushed.error());
  }
  m_session.notify(kControlQueue);
}

std::optional<Scsi::Address> Scsi::decode_lun(std::span<const uint8_t, 8> lun) {
  // Byte 0 is 1, byte 1 the target, bytes 2-3 the LUN in SAM-5's flat space addressing
  // (0x40 | high bits) or, as QEMU also takes it, peripheral addressing on bus 0 (byte 2 zero).
  // Bytes 4-7 (a second level) are not looked at.
  if (lun[0] != 1 || lun[1] != 0) return std::nullopt;
  if (lun[2] != 0 && (lun[2] & 0xc0) != 0x40) return std::nullopt;
  return Address{static_cast<uint16_t>((lun[2] & 0x3f) << 8 | lun[3])};
}

scsi::Response Scsi::execute(Address address, std::span<const uint8_t> cdb) {
  if (address.lun != 0) return absent_lun(cdb);
  if (!cdb.empty() && cdb[0] == opcode::kReportLuns && cdb.size() >= scsi::cdb_length(cdb[0]))
    return report_luns(cdb);
  return m_cdrom.execute(cdb);
}

Result<uint32_t> Scsi::command(const DescriptorChain& chain) {
  const memory::GuestMemory& memory = m_session.memory();
  uint32_t cdb_size = m_cdb_size.load(std::memory_order_relaxed);
  uint32_t sense_size = m_sense_size.load(std::memory_order_relaxed);
  if (cdb_size > kMaxCdbSize || sense_size > kMaxSenseSize)
    return make_error("the driver set cdb_size {} and sense_size {} (at most {} and {})", cdb_size,
                      sense_size, kMaxCdbSize, kMaxSenseSize);
  uint64_t request_bytes = kRequestFixedBytes + cdb_size;
  uint64_t header = kResponseFixedBytes + sense_size;
  if (chain.readable_bytes() < request_bytes || chain.writable_bytes() < header)
    return make_error(
        "request {}: {} and {} bytes of buffers, short of its {}- and {}-byte headers",
        chain.head(), chain.readable_bytes(), chain.writable_bytes(), request_bytes, header);
  ChainReader reader(memory, chain);
  std::vector<uint8_t> request(request_bytes);
  TRY(reader.read(request));
  m_requests.fetch_add(1, std::memory_order_relaxed);

  std::vector<uint8_t> response(header, 0);
  ChainWriter data(memory, chain, header);
  uint64_t capacity = data.remaining();  // data-in bytes the driver offers
  uint64_t moved = 0;
  auto address = decode_lun(std::span(request).first<8>());
  if (!address) {
    response[11] = kResponseBadTarget;
  } else if (reader.remaining() > 0 && capacity > 0) {
    // Data both ways needs VIRTIO_SCSI_F_INOUT, not offered (virtio 1.2, 5.6.6.1).
    response[11] = kResponseFailure;
  } else {
    scsi::Response result = execute(*address, std::span(request).subspan(kRequestFixedBytes));
    uint64_t length = result.read ? result.read->length : result.data.size();
    moved = std::min(length, capacity);
    if (moved > 0 && !TRY(transfer(data, result, moved))) {
      result = m_cdrom.read_failed();
      moved = 0;
    }
    // More data than buffers: OVERRUN (virtio 1.2, 5.6.6.1), with what fitted delivered.
    response[11] =
        length > moved && result.status == scsi::Status::good ? kResponseOverrun : kResponseOk;
    response[10] = static_cast<uint8_t>(result.status);
    if (result.status == scsi::Status::check_condition) {
      // Autosense: the sense data rides in the response, as every virtio driver expects.
      auto sense = CdRom::fixed_sense(result.sense);
      uint32_t sense_len = std::min<uint32_t>(sense.size(), sense_size);
      std::copy_n(sense.begin(), sense_len, response.begin() + kResponseFixedBytes);
      put_le<uint32_t>(response, 0, sense_len);
    }
  }
  put_le<uint32_t>(response, 4, static_cast<uint32_t>(capacity - moved));  // resid
  TRY(ChainWriter(memory, chain).write(response));
  return static_cast<uint32_t>(header + moved);
}

Result<bool> Scsi::transfer(ChainWriter& data, const scsi::Response& response, uint64_t length) {
  if (!response.read) {
    TRY(data.write(std::span(response.data).first(length)));
    return true;
  }
  auto iovecs = TRY(data.take_iovecs(length));
  if (auto read = read_fully(m_fd.get(), std::move(iovecs), response.read->offset); !read) {
    log::warn("{}: {} (the guest gets a medium error)", m_path, read.error().message());
    return false;
  }
  m_read_bytes.fetch_add(length, std::memory_order_relaxed);
  return true;
}

Result<uint32_t> Scsi::control(const DescriptorChain& chain) {
  const memory::GuestMemory& memory = m_session.memory();
  // Request layouts (virtio 1.2, 5.6.6.2): type, then for a TMF subtype, lun[8], id (24 bytes;
  // answer: response) and for AN lun[8], event_requested (16 bytes; answer: event_actual,
  // response).
  std::array<uint8_t, 24> request{};
  if (chain.readable_bytes() < 4) return make_error("control request {} has no type", chain.head());
  ChainReader reader(memory, chain);
  TRY(reader.read(std::span(request).first(4)));
  uint32_t type = 0;
  std::memcpy(&type, request.data(), 4);
  ChainWriter writer(memory, chain);
  if (type == kControlTmf) {
    if (chain.readable_bytes() < 24 || chain.writable_bytes() < 1)
      return make_error("task management request {} is short", chain.head());
    TRY(reader.read(std::span(request).subspan(4)));
    uint32_t function = 0;
    std::memcpy(&function, request.data() + 4, 4);
    uint8_t answer = task_management(function, std::span(request).subspan<8, 8>());
    TRY(writer.write_object(answer));
    return static_cast<uint32_t>(writer.offset());
  }
  if (type == kControlAnQuery || type == kControlAnSubscribe) {
    if (chain.readable_bytes() < 16 || chain.writable_bytes() < 5)
      return make_error("notification request {} is short", chain.head());
    // No event class is ever reported: event_actual 0, response OK.
    std::array<uint8_t, 5> answer{};
    TRY(writer.write(answer));
    return static_cast<uint32_t>(writer.offset());
  }
  return 0;  // an unknown type: returned untouched, as QEMU does
}

uint8_t Scsi::task_management(uint32_t function, std::span<const uint8_t, 8> lun) {
  auto address = decode_lun(lun);
  if (!address) return kResponseBadTarget;
  if (function == kTmfItNexusReset) {
    m_cdrom.reset();  // every logical unit of the target
    return kResponseOk;
  }
  if (function == kTmfClearAca || function > kTmfQueryTaskSet)
    return kResponseFunctionRejected;  // no ACA here (NACA is never honoured)
  if (address->lun != 0) return kResponseIncorrectLun;
  if (function == kTmfLogicalUnitReset) m_cdrom.reset();
  // Abort, clear and query functions find nothing: every command completed before its request
  // went back to the driver, so FUNCTION COMPLETE (SAM-5 7.1) is the answer.
  return kResponseOk;
}

}  // namespace haven::devices::virtio
