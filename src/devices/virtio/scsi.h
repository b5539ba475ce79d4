#pragma once

// virtio-scsi (virtio 1.2, 5.6) with one target (0) holding one logical unit (0): a read-only
// CD/DVD-ROM drive on an ISO image (scsi/cdrom.h), so that firmware (SeaBIOS, OVMF) and Linux
// can boot from and read installation media. Queues: control (task management, asynchronous
// notification), event (never used: the medium never changes, so no buffer is taken), and one
// request queue. Commands complete synchronously on the worker thread, READs with a pread
// straight into the guest's buffers.
//
// Every request completes: firmware probes targets 0..255 and polls each request's completion
// without a timeout, so an absent target answers BAD_TARGET at once. A ring that cannot be
// parsed, or a request whose headers do not fit its buffers, marks the device broken.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "devices/scsi/cdrom.h"
#include "devices/virtio/buffers.h"
#include "devices/virtio/device.h"
#include "devices/virtio/session.h"

namespace haven::devices::virtio {

class Scsi final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 128;  // SeaBIOS takes at most 256
  static constexpr uint16_t kControlQueue = 0;
  static constexpr uint16_t kEventQueue = 1;
  static constexpr uint16_t kRequestQueue = 2;
  // The largest transfer, in 512-byte units (config max_sectors); READs above it fail.
  static constexpr uint32_t kMaxSectors = 2048;  // 1 MiB
  static constexpr uint32_t kDefaultSenseSize = 96;
  static constexpr uint32_t kDefaultCdbSize = 32;
  // What the driver may set them to; beyond, requests break the device (as QEMU's checks).
  static constexpr uint32_t kMaxSenseSize = 0xffff;
  static constexpr uint32_t kMaxCdbSize = 0xff;
  // Fixed parts of the request and response headers (virtio 1.2, 5.6.6): lun[8], id, task_attr,
  // prio, crn before the CDB; sense_len, resid, status_qualifier, status, response before the
  // sense.
  static constexpr uint32_t kRequestFixedBytes = 19;
  static constexpr uint32_t kResponseFixedBytes = 12;

  // Responses (virtio 1.2, 5.6.6.1 and 5.6.6.2).
  static constexpr uint8_t kResponseOk = 0;  // also FUNCTION COMPLETE
  static constexpr uint8_t kResponseOverrun = 1;
  static constexpr uint8_t kResponseBadTarget = 3;
  static constexpr uint8_t kResponseFailure = 9;
  static constexpr uint8_t kResponseFunctionRejected = 11;
  static constexpr uint8_t kResponseIncorrectLun = 12;

  // Control request types and task management functions (virtio 1.2, 5.6.6.2).
  static constexpr uint32_t kControlTmf = 0;
  static constexpr uint32_t kControlAnQuery = 1;
  static constexpr uint32_t kControlAnSubscribe = 2;
  static constexpr uint32_t kTmfAbortTask = 0;
  static constexpr uint32_t kTmfClearAca = 2;
  static constexpr uint32_t kTmfItNexusReset = 4;
  static constexpr uint32_t kTmfLogicalUnitReset = 5;
  static constexpr uint32_t kTmfQueryTaskSet = 7;

  // Opens the image read-only (a regular file or a block device).
  static Result<std::unique_ptr<Scsi>> open(const std::string& iso_path);
  ~Scsi() override;

  std::string_view name() const override { return "virtio-scsi"; }
  DeviceType type() const override { return DeviceType::scsi; }
  uint32_t pci_class() const override { return 0x010000; }  // mass storage, SCSI controller
  uint64_t features() const override { return 0; }
  std::vector<uint16_t> queue_sizes() const override {
    return {kQueueSize, kQueueSize, kQueueSize};
  }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  // Only sense_size and cdb_size are writable (virtio 1.2, 5.6.4).
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> activate(Activation activation) override;
  void reset() override;
  void pause() override { m_session.pause(); }
  Result<void> resume() override;
  std::vector<std::optional<QueuePosition>> queue_positions() const override {
    return m_session.positions();
  }
  // read_bytes (image bytes given to the guest), requests (SCSI commands).
  DeviceState counters() const override;

  const std::string& path() const { return m_path; }
  uint64_t media_bytes() const { return m_media_bytes; }

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  Scsi(Key, UniqueFd fd, std::string path, uint64_t media_bytes);

 private:
  // Where a request's lun field points (virtio 1.2, 5.6.6.1); nullopt: no such target.
  struct Address {
    uint16_t lun = 0;
  };
  static std::optional<Address> decode_lun(std::span<const uint8_t, 8> lun);

  void serve_requests();
  void serve_control();
  // One command request; returns the bytes written into its buffers.
  Result<uint32_t> command(const DescriptorChain& chain);
  // What target 0 answers for `cdb` at `address`: REPORT LUNS, the drive, or an absent LUN.
  scsi::Response execute(Address address, std::span<const uint8_t> cdb);
  // Copies `length` bytes of data-in (for a READ, from the image) into `data`, the buffers
  // after the response header; false when the image could not be read.
  Result<bool> transfer(ChainWriter& data, const scsi::Response& response, uint64_t length);
  Result<uint32_t> control(const DescriptorChain& chain);
  uint8_t task_management(uint32_t function, std::span<const uint8_t, 8> lun);

  UniqueFd m_fd;
  std::string m_path;
  uint64_t m_media_bytes;
  scsi::CdRom m_cdrom;  // worker thread, or while the worker is stopped
  // Written by the driver (vCPU threads), read by the worker.
  std::atomic<uint32_t> m_sense_size{kDefaultSenseSize};
  std::atomic<uint32_t> m_cdb_size{kDefaultCdbSize};
  std::atomic<uint64_t> m_read_bytes{0}, m_requests{0};
  Session m_session;  // last: its worker stops before the rest goes
};

}  // namespace haven::devices::virtio
