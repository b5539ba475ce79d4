// The MMC-6 side of the CD-ROM: mode pages and the optical-drive commands, whose answers
// describe one finalized single-session disc with one data track spanning the image.

#include <algorithm>

#include "devices/scsi/cdrom.h"

namespace haven::devices::scsi {
namespace {

constexpr uint8_t kPageErrorRecovery = 0x01;
constexpr uint8_t kPageCapabilities = 0x2a;
constexpr uint8_t kAllPages = 0x3f;
constexpr uint8_t kDataTrack = 0x14;  // ADR 1 (Q sub-channel position), CONTROL 4 (data track)
constexpr uint8_t kLeadOut = 0xaa;
constexpr uint16_t kProfileDvdRom = 0x0010;
constexpr uint16_t kProfileCdRom = 0x0008;
// 50x, in the kB/s MMC counts speeds in (MMC-6 Annex: 1x = 176.4 kB/s, rounded as drives do).
constexpr uint16_t kSpeed = 50 * 176;

void append(std::vector<uint8_t>& out, std::initializer_list<uint8_t> bytes) {
  out.insert(out.end(), bytes);
}

void append_be32(std::vector<uint8_t>& out, uint32_t value) {
  out.resize(out.size() + 4);
  store_be32(out, out.size() - 4, value);
}

// Minute, second, frame of a logical block: a CD addresses blocks by the time they are read at
// 1x, 75 frames a second, the first data block 2 seconds in (MMC-6 4.2.3.3). Beyond what 8-bit
// minutes can name (a DVD-sized image), the largest time.
void append_msf(std::vector<uint8_t>& out, uint64_t lba) {
  uint64_t frames = std::min<uint64_t>(lba + 150, 255ull * 60 * 75 + 59 * 75 + 74);
  append(out, {static_cast<uint8_t>(frames / (60 * 75)), static_cast<uint8_t>(frames / 75 % 60),
               static_cast<uint8_t>(frames % 75)});
}

// Appends mode page `page` as page_0 format (code, length, parameters); false if there is no
// such page. `changeable`: the mask of what MODE SELECT could change, all zero here.
bool append_mode_page(std::vector<uint8_t>& out, uint8_t page, bool changeable, bool locked) {
  size_t at = out.size();
  if (page == kPageErrorRecovery) {
    // MMC-6 7.3: read retries on, everything else the defaults.
    out.resize(at + 12, 0);
    out[at] = kPageErrorRecovery;
    out[at + 1] = 10;
    if (!changeable) out[at + 3] = 0x20;  // read retry count
    return true;
  }
  if (page == kPageCapabilities) {
    // CD/DVD capabilities and mechanical status (MMC-3 6.3.11; kept by MMC-6 as legacy):
    // Linux's sr learns the drive's media and tray from it. Reads only, no audio, no READ CD.
    out.resize(at + 22, 0);
    out[at] = kPageCapabilities;
    out[at + 1] = 0x14;
    if (changeable) return true;
    out[at + 2] = 0x3b;  // reads CD-R, CD-RW, DVD-ROM, DVD-R, DVD-RAM media
    // Lock supported, lock state, eject supported, tray loading mechanism.
    out[at + 6] = static_cast<uint8_t>(0x29 | (locked ? 0x02 : 0));
    store_be16(out, at + 8, kSpeed);   // maximum read speed (obsolete, still read by sr)
    store_be16(out, at + 14, kSpeed);  // current read speed
    return true;
  }
  return false;
}

}  // namespace

// MODE SENSE(6) and (10) (SPC-4 6.11, 6.12). A CD/DVD drive has no block descriptors and no
// device-specific parameter (MMC-6 7.2.2), whatever DBD asks.
Response CdRom::mode_sense(std::span<const uint8_t> cdb) const {
  bool ten = cdb[0] == opcode::kModeSense10;
  uint8_t page = cdb[2] & 0x3f;
  uint8_t control = cdb[2] >> 6;  // current, changeable, default or saved values
  uint8_t subpage = cdb[3];
  uint64_t allocation = ten ? load_be16(cdb, 7) : cdb[4];
  if (control == 3) return check_condition(kSenseSavingNotSupported);
  // None of these pages has subpages: 0 names the page itself, 0xff "and all its subpages".
  if (subpage != 0x00 && subpage != 0xff) return check_condition(kSenseInvalidField);
  std::vector<uint8_t> data(ten ? 8 : 4, 0);
  if (page == kAllPages) {
    append_mode_page(data, kPageErrorRecovery, control == 1, m_locked);
    append_mode_page(data, kPageCapabilities, control == 1, m_locked);
  } else if (!append_mode_page(data, page, control == 1, m_locked)) {
    return check_condition(kSenseInvalidField);
  }
  // The mode data length does not count itself.
  if (ten)
    store_be16(data, 0, static_cast<uint16_t>(data.size() - 2));
  else
    data[0] = static_cast<uint8_t>(data.size() - 1);
  return good(std::move(data), allocation);
}

// READ TOC/PMA/ATIP (MMC-6 6.26): the formatted TOC, the session information and the raw TOC.
Response CdRom::read_toc(std::span<const uint8_t> cdb) const {
  bool msf = cdb[1] & 0x02;
  uint8_t format = cdb[2] & 0x0f;
  uint8_t track = cdb[6];  // starting track (format 0) or session number (format 2)
  uint16_t allocation = load_be16(cdb, 7);
  std::vector<uint8_t> data = {0, 0, 1, 1};  // length, first and last track or session
  auto track_descriptor = [&](uint8_t number, uint64_t lba) {
    append(data, {0, kDataTrack, number, 0});
    if (msf) {
      data.push_back(0);
      append_msf(data, lba);
    } else {
      append_be32(data, static_cast<uint32_t>(std::min<uint64_t>(lba, 0xffffffff)));
    }
  };
  switch (format) {
    case 0:  // tracks from `track` on, then the lead-out
      if (track > 1 && track != kLeadOut) return check_condition(kSenseInvalidField);
      if (track <= 1) track_descriptor(1, 0);
      track_descriptor(kLeadOut, m_blocks);
      break;
    case 1:  // the first track of the last complete session
      track_descriptor(1, 0);
      break;
    case 2: {
      // Q sub-channel entries of the lead-in, always in MSF: first track (A0), last track (A1),
      // lead-out start (A2), then track 1's start.
      auto entry = [&](uint8_t point, std::initializer_list<uint8_t> position) {
        append(data, {1, kDataTrack, 0, point, 0, 0, 0, 0});
        append(data, position);
      };
      entry(0xa0, {1, 0x00, 0});  // first track 1; disc type 0: CD-DA or CD-ROM
      entry(0xa1, {1, 0, 0});
      append(data, {1, kDataTrack, 0, 0xa2, 0, 0, 0, 0});
      append_msf(data, m_blocks);
      append(data, {1, kDataTrack, 0, 1, 0, 0, 0, 0});
      append_msf(data, 0);
      break;
    }
    default:  // PMA, ATIP, CD-TEXT: not on a pressed disc
      return check_condition(kSenseInvalidField);
  }
  store_be16(data, 0, static_cast<uint16_t>(data.size() - 2));
  return good(std::move(data), allocation);
}

// GET CONFIGURATION (MMC-6 6.6): the current profile and the features every drive reports
// (profile list, core, removable medium), filtered as RT asks.
Response CdRom::get_configuration(std::span<const uint8_t> cdb) const {
  uint8_t request_type = cdb[1] & 0x03;
  uint16_t starting = load_be16(cdb, 2);
  uint16_t allocation = load_be16(cdb, 7);
  if (request_type == 3) return check_condition(kSenseInvalidField);
  uint16_t profile = current_profile();
  std::vector<uint8_t> data(8, 0);
  store_be16(data, 6, profile);
  auto feature = [&](uint16_t code, uint8_t version, std::initializer_list<uint8_t> body) {
    // RT 0: every feature from `starting` on; 1: the current ones (all are); 2: that one only.
    if (request_type == 2 ? code != starting : code < starting) return;
    append(data, {static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code),
                  static_cast<uint8_t>(version << 2 | 0x03),  // persistent, current
                  static_cast<uint8_t>(body.size())});
    append(data, body);
  };
  feature(0x0000, 0,
          {0x00, kProfileDvdRom, profile == kProfileDvdRom, 0,  // profile list
           0x00, kProfileCdRom, profile == kProfileCdRom, 0});
  feature(0x0001, 2, {0, 0, 0, 1, 0x01, 0, 0, 0});  // core: SCSI interface, DBE
  feature(0x0003, 2, {0x39, 0, 0, 0});              // removable: tray, load, eject, lock
  store_be32(data, 0, static_cast<uint32_t>(data.size() - 4));
  return good(std::move(data), allocation);
}

// GET EVENT STATUS NOTIFICATION (MMC-6 6.7), polled only: the media class, which never has an
// event since the medium never changes.
Response CdRom::get_event_status(std::span<const uint8_t> cdb) const {
  if (!(cdb[1] & 0x01)) return check_condition(kSenseInvalidField);  // asynchronous
  constexpr uint8_t kMediaClass = 0x10;
  std::vector<uint8_t> data = {0, 0, 0x80, kMediaClass};  // NEA: no event class requested
  if (cdb[4] & kMediaClass) {
    data[2] = 4;
    append(data, {0x00, 0x02, 0, 0});  // no change; medium present, tray closed
  }
  store_be16(data, 0, static_cast<uint16_t>(data.size() - 4));  // descriptor bytes only
  return good(std::move(data), load_be16(cdb, 7));
}

// READ DISC INFORMATION (MMC-6 6.22), standard disc information only.
Response CdRom::read_disc_information(std::span<const uint8_t> cdb) const {
  if (cdb[1] & 0x07) return check_condition(kSenseInvalidField);  // track/POW resources
  std::vector<uint8_t> data(34, 0);
  data[1] = 32;    // length after this field
  data[2] = 0x0e;  // last session complete, disc finalized
  data[3] = 1;     // first track
  data[4] = 1;     // sessions
  data[5] = 1;     // first track of the last session
  data[6] = 1;     // last track of the last session
  data[7] = 0x20;  // unrestricted use
  return good(std::move(data), load_be16(cdb, 7));
}

// MECHANISM STATUS (MMC-6 6.11): no changer, one slot.
Response CdRom::mechanism_status(std::span<const uint8_t> cdb) const {
  std::vector<uint8_t> data(8, 0);
  data[5] = 1;
  return good(std::move(data), load_be16(cdb, 8));
}

// READ DISC STRUCTURE for DVD media (MMC-6 6.23): physical format, copyright and manufacturing
// information of an unprotected single-layer DVD-ROM, and the list of those. A CD-sized image
// has none of them.
Response CdRom::read_dvd_structure(std::span<const uint8_t> cdb) const {
  uint8_t layer = cdb[6];
  uint8_t format = cdb[7];
  uint16_t allocation = load_be16(cdb, 8);
  if (cdb[1] != 0) return check_condition(kSenseInvalidField);  // media type other than DVD
  std::vector<uint8_t> data(4, 0);
  if (format == 0xff) {
    for (auto [code, length] :
         {std::pair<uint8_t, uint16_t>{0x00, 2048 + 4}, {0x01, 4 + 4}, {0x04, 2048 + 4}}) {
      append(data, {code, 0x40, 0, 0});  // readable by this command
      store_be16(data, data.size() - 2, length);
    }
  } else if (current_profile() != kProfileDvdRom) {
    return check_condition(kSenseIncompatibleMedium);
  } else if (format == 0x00) {
    if (layer != 0) return check_condition(kSenseInvalidField);
    data.resize(4 + 2048, 0);
    data[4] = 0x01;  // DVD-ROM, part version 1
    data[5] = 0x0f;  // 120 mm, maximum rate not specified
    data[6] = 0x01;  // one layer, embossed (read-only)
    store_be32(data, 12, static_cast<uint32_t>(m_blocks - 1));  // end of the data area
    store_be32(data, 16, static_cast<uint32_t>(m_blocks - 1));  // end of layer 0
  } else if (format == 0x01) {
    data.resize(4 + 4, 0);  // no copy protection, no region restriction
  } else if (format == 0x04) {
    data.resize(4 + 2048, 0);  // no manufacturing information
  } else {
    return check_condition(kSenseInvalidField);
  }
  store_be16(data, 0, static_cast<uint16_t>(data.size() - 2));
  return good(std::move(data), allocation);
}

}  // namespace haven::devices::scsi
