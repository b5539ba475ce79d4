#pragma once

// A read-only CD/DVD-ROM drive as one SCSI logical unit: the commands of SPC-3 (primary
// commands), SBC-3 (READ) and MMC-6 (the optical ones) that Linux's sr, SeaBIOS and OVMF send,
// answered the way QEMU 7.2's scsi-cd answers them, since those guests are tested against it.
// Pure command logic: the transport hands in a CDB and gets back the status, the sense data,
// the bytes to return, or for a READ the range of the image to copy (it does the I/O itself).
// The medium is always present and never changes.
//
// Every CDB byte is guest-controlled: a CDB shorter than its opcode's group implies, an opcode
// of a reserved or vendor group, an out-of-range field, any allocation length: each gets a
// CHECK CONDITION or a bounded answer, never an out-of-bounds read or an unbounded allocation.
//
// Not thread-safe: the device's worker thread owns it.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/byte_order.h"

namespace haven::devices::scsi {

struct Sense {
  uint8_t key = 0, asc = 0, ascq = 0;
  bool operator==(const Sense&) const = default;
};

// Sense key / additional sense code / qualifier triples (SPC-4 4.5.6, Annex D; MMC-6 F.2).
inline constexpr Sense kSenseNoSense{0x00, 0x00, 0x00};
inline constexpr Sense kSenseLunNotReady{0x02, 0x04, 0x03};  // manual intervention required
inline constexpr Sense kSenseUnrecoveredReadError{0x03, 0x11, 0x00};
inline constexpr Sense kSenseInvalidOpcode{0x05, 0x20, 0x00};
inline constexpr Sense kSenseLbaOutOfRange{0x05, 0x21, 0x00};
inline constexpr Sense kSenseInvalidField{0x05, 0x24, 0x00};
inline constexpr Sense kSenseLunNotSupported{0x05, 0x25, 0x00};
inline constexpr Sense kSenseIncompatibleMedium{0x05, 0x30, 0x00};
inline constexpr Sense kSenseSavingNotSupported{0x05, 0x39, 0x00};
inline constexpr Sense kSenseRemovalPrevented{0x05, 0x53, 0x02};
inline constexpr Sense kSensePowerOnReset{0x06, 0x29, 0x00};
inline constexpr Sense kSenseWriteProtected{0x07, 0x27, 0x00};

// SAM-5 5.3.
enum class Status : uint8_t { good = 0x00, check_condition = 0x02 };

// Bytes of the image a READ returns, in order.
struct MediaRead {
  uint64_t offset;
  uint64_t length;
};

struct Response {
  Status status = Status::good;
  Sense sense;                    // meaningful with check_condition
  std::vector<uint8_t> data;      // data-in of a non-READ command, cut to its allocation length
  std::optional<MediaRead> read;  // READ(6/10/12/16): the transport copies these image bytes
};

// Operation codes used here and by the transport.
namespace opcode {
inline constexpr uint8_t kTestUnitReady = 0x00;
inline constexpr uint8_t kRequestSense = 0x03;
inline constexpr uint8_t kRead6 = 0x08;
inline constexpr uint8_t kWrite6 = 0x0a;
inline constexpr uint8_t kInquiry = 0x12;
inline constexpr uint8_t kModeSense6 = 0x1a;
inline constexpr uint8_t kStartStopUnit = 0x1b;
inline constexpr uint8_t kPreventAllowMediumRemoval = 0x1e;
inline constexpr uint8_t kReadCapacity10 = 0x25;
inline constexpr uint8_t kRead10 = 0x28;
inline constexpr uint8_t kWrite10 = 0x2a;
inline constexpr uint8_t kWriteAndVerify10 = 0x2e;
inline constexpr uint8_t kReadToc = 0x43;
inline constexpr uint8_t kGetConfiguration = 0x46;
inline constexpr uint8_t kGetEventStatusNotification = 0x4a;
inline constexpr uint8_t kReadDiscInformation = 0x51;
inline constexpr uint8_t kModeSense10 = 0x5a;
inline constexpr uint8_t kRead16 = 0x88;
inline constexpr uint8_t kWrite16 = 0x8a;
inline constexpr uint8_t kWriteAndVerify16 = 0x8e;
inline constexpr uint8_t kServiceActionIn16 = 0x9e;
inline constexpr uint8_t kReportLuns = 0xa0;
inline constexpr uint8_t kRead12 = 0xa8;
inline constexpr uint8_t kWrite12 = 0xaa;
inline constexpr uint8_t kReadDvdStructure = 0xad;
inline constexpr uint8_t kWriteAndVerify12 = 0xae;
inline constexpr uint8_t kSetCdSpeed = 0xbb;
inline constexpr uint8_t kMechanismStatus = 0xbd;
}  // namespace opcode

// Big-endian fields, SCSI's byte order (SAM-5 3.6.1), through base/byte_order.h (CDBs are
// checked against cdb_length() first, so a field past the end is a bug: it aborts).
inline uint16_t load_be16(std::span<const uint8_t> bytes, size_t offset) {
  return static_cast<uint16_t>(load_be(bytes, offset, 2));
}
inline uint32_t load_be32(std::span<const uint8_t> bytes, size_t offset) {
  return static_cast<uint32_t>(load_be(bytes, offset, 4));
}
inline uint64_t load_be64(std::span<const uint8_t> bytes, size_t offset) {
  return load_be(bytes, offset, 8);
}
inline void store_be16(std::span<uint8_t> bytes, size_t offset, uint16_t value) {
  store_be(bytes, offset, 2, value);
}
inline void store_be32(std::span<uint8_t> bytes, size_t offset, uint32_t value) {
  store_be(bytes, offset, 4, value);
}
inline void store_be64(std::span<uint8_t> bytes, size_t offset, uint64_t value) {
  store_be(bytes, offset, 8, value);
}

// The length of a CDB with this operation code, from its group (SPC-4 4.2.5.1): 6, 10, 12 or
// 16; 0 for groups 3 (reserved, variable length), 6 and 7 (vendor specific), which no command
// here uses.
size_t cdb_length(uint8_t operation_code);
// A CHECK CONDITION with `sense`.
Response check_condition(const Sense& sense);
// GOOD with `data`, cut to `allocation_length` (SPC-4 4.2.5.6: the device returns at most that
// many bytes, and a shorter allocation is never an error).
Response good(std::vector<uint8_t> data, uint64_t allocation_length);

class CdRom {
 public:
  static constexpr uint32_t kBlockSize = 2048;
  // The largest non-READ answer; the biggest one built here is about 2 KiB.
  static constexpr size_t kMaxResponseBytes = 64 * 1024;
  // Images above this are DVDs (an 80-minute CD, as QEMU draws the line).
  static constexpr uint64_t kMaxCdBytes = 80ull * 60 * 75 * kBlockSize;

  // `media_bytes`: the image's size (a partial last block is not readable); `max_read_bytes`:
  // the largest READ the transport accepts (longer ones are INVALID FIELD, as SBC-3 5.8 has
  // for a transfer length above the maximum).
  explicit CdRom(uint64_t media_bytes, std::string product_revision = "1.0",
                 uint64_t max_read_bytes = 1 << 20);

  // One command; `cdb` as received (any length; only the bytes its opcode defines are read).
  Response execute(std::span<const uint8_t> cdb);
  // Power-on, bus or logical unit reset: the medium unlocks and the next command (but those
  // SPC-4 5.14 lets through) reports UNIT ATTENTION 06/29/00.
  void reset();
  // Drops a pending unit attention without reporting it: the device was restored from a
  // snapshot whose guest had long seen it (QEMU carries this state across a migration).
  void clear_unit_attention() { m_unit_attention.reset(); }
  // A READ execute() accepted could not be read from the image: returns (and keeps, for
  // REQUEST SENSE) MEDIUM ERROR 03/11/00.
  Response read_failed();

  // Fixed-format sense data (SPC-4 4.5.3): response code 0x70, current error.
  static std::array<uint8_t, 18> fixed_sense(const Sense& sense);

  uint64_t blocks() const { return m_blocks; }
  bool locked() const { return m_locked; }
  bool unit_attention_pending() const { return m_unit_attention.has_value(); }
  // DVD-ROM (0x0010) or CD-ROM (0x0008): MMC-6 5.3.1 profile numbers, chosen by size.
  uint16_t current_profile() const;

 private:
  Response dispatch(std::span<const uint8_t> cdb);
  Response request_sense(std::span<const uint8_t> cdb);
  Response inquiry(std::span<const uint8_t> cdb) const;
  Response read_capacity(std::span<const uint8_t> cdb) const;
  Response read(std::span<const uint8_t> cdb) const;
  Response start_stop_unit(std::span<const uint8_t> cdb) const;
  // MMC-6 commands and mode pages (cdrom_mmc.cc).
  Response mode_sense(std::span<const uint8_t> cdb) const;
  Response read_toc(std::span<const uint8_t> cdb) const;
  Response get_configuration(std::span<const uint8_t> cdb) const;
  Response get_event_status(std::span<const uint8_t> cdb) const;
  Response read_disc_information(std::span<const uint8_t> cdb) const;
  Response mechanism_status(std::span<const uint8_t> cdb) const;
  Response read_dvd_structure(std::span<const uint8_t> cdb) const;

  uint64_t m_blocks;
  std::string m_revision;  // at most 4 bytes reach the guest
  uint64_t m_max_read_bytes;
  bool m_locked = false;  // PREVENT ALLOW MEDIUM REMOVAL
  // Established at power-on and by resets; reported once (SPC-4 5.14).
  std::optional<Sense> m_unit_attention = kSensePowerOnReset;
  // The sense of the last command that ended in CHECK CONDITION, until the next command ends
  // or REQUEST SENSE returns it (SPC-4 5.12).
  std::optional<Sense> m_last_sense;
};

}  // namespace haven::devices::scsi
