#pragma once

// Shared by the CD-ROM command tests: a small medium and a way to run a CDB written inline.

#include <initializer_list>
#include <vector>

#include "devices/scsi/cdrom.h"

namespace haven::devices::scsi::cdrom_test {

inline constexpr uint64_t kMediaBlocks = 100;
inline constexpr uint64_t kMediaBytes = kMediaBlocks * CdRom::kBlockSize;

inline Response run(CdRom& cdrom, std::initializer_list<uint8_t> cdb) {
  std::vector<uint8_t> bytes(cdb);
  return cdrom.execute(bytes);
}

// A drive past its power-on unit attention.
inline CdRom ready(uint64_t media_bytes = kMediaBytes) {
  CdRom cdrom(media_bytes);
  run(cdrom, {0x00, 0, 0, 0, 0, 0});
  return cdrom;
}

}  // namespace haven::devices::scsi::cdrom_test
