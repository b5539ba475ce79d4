#include "devices/scsi/cdrom.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace haven::devices::scsi {
namespace {

// Commands a pending unit attention lets through without reporting it (SPC-4 5.14, MMC-6
// 4.1.6.1 for the two event commands: a host polls them to learn what the attention is about).
// REPORT LUNS passes too, but never gets here: the target answers it (virtio/scsi.cc).
bool passes_unit_attention(uint8_t operation_code) {
  switch (operation_code) {
    case opcode::kInquiry:
    case opcode::kRequestSense:
    case opcode::kGetConfiguration:
    case opcode::kGetEventStatusNotification:
      return true;
    default:
      return false;
  }
}

// Copies `text` into `out`, space-padded to out.size() (SPC-4 4.4.1: ASCII data fields are
// left-aligned and padded with spaces).
void put_ascii(std::span<uint8_t> out, std::string_view text) {
  std::fill(out.begin(), out.end(), ' ');
  std::memcpy(out.data(), text.data(), std::min(text.size(), out.size()));
}

constexpr std::string_view kVendor = "HAVEN";
constexpr std::string_view kProduct = "Haven CD-ROM";
constexpr uint8_t kPeripheralType = 0x05;  // CD/DVD device (SPC-4 Table 145)

}  // namespace

size_t cdb_length(uint8_t operation_code) {
  switch (operation_code >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;
  }
}

Response check_condition(const Sense& sense) {
  Response response;
  response.status = Status::check_condition;
  response.sense = sense;
  return response;
}

Response good(std::vector<uint8_t> data, uint64_t allocation_length) {
  if (data.size() > allocation_length) data.resize(allocation_length);
  Response response;
  response.data = std::move(data);
  return response;
}

CdRom::CdRom(uint64_t media_bytes, std::string product_revision, uint64_t max_read_bytes)
    : m_blocks(media_bytes / kBlockSize),
      m_revision(std::move(product_revision)),
      m_max_read_bytes(max_read_bytes) {}

uint16_t CdRom::current_profile() const {
  return m_blocks * kBlockSize > kMaxCdBytes ? 0x0010 : 0x0008;
}

void CdRom::reset() {
  m_unit_attention = kSensePowerOnReset;
  m_locked = false;
  m_last_sense.reset();
}

std::array<uint8_t, 18> CdRom::fixed_sense(const Sense& sense) {
  std::array<uint8_t, 18> data{};
  data[0] = 0x70;  // current error, fixed format, no INFORMATION field
  data[2] = sense.key & 0x0f;
  data[7] = 10;  // additional sense length: bytes 8..17
  data[12] = sense.asc;
  data[13] = sense.ascq;
  return data;
}

Response CdRom::read_failed() {
  m_last_sense = kSenseUnrecoveredReadError;
  return check_condition(kSenseUnrecoveredReadError);
}

Response CdRom::execute(std::span<const uint8_t> cdb) {
  size_t length = cdb.empty() ? 0 : cdb_length(cdb[0]);
  Response response;
  if (length == 0 || cdb.size() < length) {
    // No command can be parsed from it: INVALID COMMAND OPERATION CODE (SPC-4 5.2). A pending
    // unit attention waits for a command that can be.
    response = check_condition(kSenseInvalidOpcode);
  } else if (m_unit_attention && !passes_unit_attention(cdb[0])) {
    response = check_condition(*m_unit_attention);
    m_unit_attention.reset();
  } else if (cdb[0] == opcode::kRequestSense) {
    return request_sense(cdb.first(length));  // leaves no sense of its own
  } else {
    response = dispatch(cdb.first(length));
  }
  if (response.status == Status::good)
    m_last_sense.reset();
  else
    m_last_sense = response.sense;
  return response;
}

Response CdRom::dispatch(std::span<const uint8_t> cdb) {
  switch (cdb[0]) {
    case opcode::kTestUnitReady:
    case opcode::kSetCdSpeed:  // any speed is the speed of the host's storage
      return {};
    case opcode::kInquiry:
      return inquiry(cdb);
    case opcode::kReadCapacity10:
    case opcode::kServiceActionIn16:
      return read_capacity(cdb);
    case opcode::kRead6:
    case opcode::kRead10:
    case opcode::kRead12:
    case opcode::kRead16:
      return read(cdb);
    case opcode::kWrite6:
    case opcode::kWrite10:
    case opcode::kWrite12:
    case opcode::kWrite16:
    case opcode::kWriteAndVerify10:
    case opcode::kWriteAndVerify12:
    case opcode::kWriteAndVerify16:
      // SBC-3 4.11: a write to a write-protected medium is DATA PROTECT (QEMU's scsi-cd too).
      return check_condition(kSenseWriteProtected);
    case opcode::kPreventAllowMediumRemoval:
      m_locked = cdb[4] & 0x01;  // PREVENT: bit 0 (bit 1, persistent, is not kept apart)
      return {};
    case opcode::kStartStopUnit:
      return start_stop_unit(cdb);
    case opcode::kModeSense6:
    case opcode::kModeSense10:
      return mode_sense(cdb);
    case opcode::kReadToc:
      return read_toc(cdb);
    case opcode::kGetConfiguration:
      return get_configuration(cdb);
    case opcode::kGetEventStatusNotification:
      return get_event_status(cdb);
    case opcode::kReadDiscInformation:
      return read_disc_information(cdb);
    case opcode::kMechanismStatus:
      return mechanism_status(cdb);
    case opcode::kReadDvdStructure:
      return read_dvd_structure(cdb);
    default:
      return check_condition(kSenseInvalidOpcode);
  }
}

// SPC-4 6.39: the pending unit attention if there is one, else the sense of the command that
// failed last; once, then NO SENSE. DESC selects descriptor format (SPC-4 4.5.2).
Response CdRom::request_sense(std::span<const uint8_t> cdb) {
  Sense sense = kSenseNoSense;
  if (m_unit_attention) {
    sense = *m_unit_attention;
    m_unit_attention.reset();
  } else if (m_last_sense) {
    sense = *m_last_sense;
  }
  m_last_sense.reset();
  std::vector<uint8_t> data;
  if (cdb[1] & 0x01) {
    data = {0x72, static_cast<uint8_t>(sense.key & 0x0f), sense.asc, sense.ascq, 0, 0, 0, 0};
  } else {
    auto fixed = fixed_sense(sense);
    data.assign(fixed.begin(), fixed.end());
  }
  return good(std::move(data), cdb[4]);
}

Response CdRom::inquiry(std::span<const uint8_t> cdb) const {
  uint8_t page = cdb[2];
  uint16_t allocation = load_be16(cdb, 3);                        // SPC-3 widened it to two bytes
  if (cdb[1] & 0x02) return check_condition(kSenseInvalidField);  // CMDDT, obsolete
  if (!(cdb[1] & 0x01)) {
    if (page != 0) return check_condition(kSenseInvalidField);  // SPC-4 6.6.1
    // Standard data (SPC-4 6.6.2), the 36 bytes every initiator reads.
    std::vector<uint8_t> data(36, 0);
    data[0] = kPeripheralType;  // qualifier 0: connected
    data[1] = 0x80;             // RMB: removable medium
    data[2] = 0x05;             // SPC-3
    data[3] = 0x12;             // HISUP, response data format 2
    data[4] = 36 - 5;           // additional length
    data[7] = 0x02;             // CMDQUE: the virtio queue takes many commands at once
    put_ascii(std::span(data).subspan(8, 8), kVendor);
    put_ascii(std::span(data).subspan(16, 16), kProduct);
    put_ascii(std::span(data).subspan(32, 4), m_revision);
    return good(std::move(data), allocation);
  }
  // Vital product data (SPC-4 7.8): the two pages SPC-4 requires.
  std::vector<uint8_t> data = {kPeripheralType, page, 0, 0};
  if (page == 0x00) {
    data.insert(data.end(), {0x00, 0x83});  // supported pages, ascending
  } else if (page == 0x83) {
    // Device identification (SPC-4 7.8.6): one T10 vendor ID designator in ASCII, the
    // vendor's 8 bytes then what names the drive.
    std::vector<uint8_t> id(8 + kProduct.size());
    put_ascii(std::span(id).first(8), kVendor);
    put_ascii(std::span(id).subspan(8), kProduct);
    data.insert(data.end(), {0x02, 0x01, 0x00, static_cast<uint8_t>(id.size())});
    data.insert(data.end(), id.begin(), id.end());
  } else {
    return check_condition(kSenseInvalidField);
  }
  store_be16(data, 2, static_cast<uint16_t>(data.size() - 4));
  return good(std::move(data), allocation);
}

// READ CAPACITY(10) (SBC-3 5.15) and (16) (SBC-3 5.16, a SERVICE ACTION IN(16) action).
Response CdRom::read_capacity(std::span<const uint8_t> cdb) const {
  bool sixteen = cdb[0] == opcode::kServiceActionIn16;
  if (sixteen && (cdb[1] & 0x1f) != 0x10) return check_condition(kSenseInvalidField);
  // PMI clear: the LOGICAL BLOCK ADDRESS field must be zero (obsolete since SBC-3, still
  // checked by QEMU).
  bool pmi = sixteen ? cdb[14] & 0x01 : cdb[8] & 0x01;
  uint64_t lba = sixteen ? load_be64(cdb, 2) : load_be32(cdb, 2);
  if (!pmi && lba != 0) return check_condition(kSenseInvalidField);
  if (m_blocks == 0) return check_condition(kSenseLunNotReady);  // nothing to address
  uint64_t last = m_blocks - 1;
  if (!sixteen) {
    std::vector<uint8_t> data(8, 0);
    // Capacity past 32 bits reads as 0xffffffff: "use READ CAPACITY(16)".
    store_be32(data, 0, static_cast<uint32_t>(std::min<uint64_t>(last, 0xffffffff)));
    store_be32(data, 4, kBlockSize);
    return good(std::move(data), 8);  // READ CAPACITY(10) has no allocation length
  }
  std::vector<uint8_t> data(32, 0);
  store_be64(data, 0, last);
  store_be32(data, 8, kBlockSize);
  return good(std::move(data), load_be32(cdb, 10));
}

// READ(6/10/12/16) (SBC-3 5.8-5.11). The transfer length counts 2048-byte blocks; READ(6)'s 0
// means 256 (SBC-3 5.8).
Response CdRom::read(std::span<const uint8_t> cdb) const {
  uint64_t lba = 0, count = 0;
  switch (cdb[0]) {
    case opcode::kRead6:
      lba = load_be32(cdb, 0) & 0x1fffff;
      count = cdb[4] == 0 ? 256 : cdb[4];
      break;
    case opcode::kRead10:
      lba = load_be32(cdb, 2);
      count = load_be16(cdb, 7);
      break;
    case opcode::kRead12:
      lba = load_be32(cdb, 2);
      count = load_be32(cdb, 6);
      break;
    default:
      lba = load_be64(cdb, 2);
      count = load_be32(cdb, 10);
      break;
  }
  // RDPROTECT (and READ(6)'s reserved bits there): no protection information here.
  if (cdb[1] & 0xe0) return check_condition(kSenseInvalidField);
  // Past the end, even by zero blocks after the last one (SBC-3 4.5). count < 2^32, so the
  // sum cannot wrap unless lba is already past the end.
  if (lba > m_blocks || count > m_blocks - lba) return check_condition(kSenseLbaOutOfRange);
  if (count * kBlockSize > m_max_read_bytes) return check_condition(kSenseInvalidField);
  Response response;
  if (count != 0) response.read = MediaRead{lba * kBlockSize, count * kBlockSize};
  return response;
}

// START STOP UNIT (MMC-6 6.37): power conditions do nothing; LOEJ with START clear ejects,
// refused while PREVENT ALLOW MEDIUM REMOVAL holds the medium (QEMU's sense). Haven has no tray:
// an eject that is allowed succeeds and the medium stays.
Response CdRom::start_stop_unit(std::span<const uint8_t> cdb) const {
  bool start = cdb[4] & 0x01;
  bool load_eject = cdb[4] & 0x02;
  if ((cdb[4] & 0xf0) != 0) return {};
  if (load_eject && !start && m_locked) return check_condition(kSenseRemovalPrevented);
  return {};
}

}  // namespace haven::devices::scsi
