// Fuzzes the CD-ROM's command logic: the input is a medium size, a READ cap and a sequence of
// CDBs of any length (some after a reset). Whatever the guest sends, an answer stays within 64
// KiB and within the CDB's allocation length, a READ stays inside the medium and under the
// cap, and a failed command carries sense data and nothing else. Each CDB is copied to a
// buffer of exactly its length, so ASan catches any byte read past it.
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "devices/scsi/cdrom.h"

using namespace haven::devices::scsi;

namespace {

// The allocation length field of the commands that return data, when the CDB is long enough
// to hold it.
std::optional<uint64_t> allocation_length(std::span<const uint8_t> cdb) {
  if (cdb.empty() || cdb.size() < cdb_length(cdb[0])) return std::nullopt;
  switch (cdb[0]) {
    case opcode::kRequestSense:
    case opcode::kModeSense6:
      return cdb[4];
    case opcode::kInquiry:
      return load_be16(cdb, 3);
    case opcode::kReadCapacity10:
      return 8;
    case opcode::kModeSense10:
    case opcode::kReadToc:
    case opcode::kGetConfiguration:
    case opcode::kGetEventStatusNotification:
    case opcode::kReadDiscInformation:
      return load_be16(cdb, 7);
    case opcode::kServiceActionIn16:
      return load_be32(cdb, 10);
    case opcode::kMechanismStatus:
    case opcode::kReadDvdStructure:
      return load_be16(cdb, 8);
    default:
      return 0;  // no data-in
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 10) return 0;
  uint64_t media_bytes = 0;
  std::memcpy(&media_bytes, data, 8);
  if (data[8] & 1) media_bytes %= 1ull << 24;  // small media half of the time
  uint64_t max_read = (uint64_t{data[9]} + 1) * CdRom::kBlockSize;
  CdRom cdrom(media_bytes, "FUZZ", max_read);
  const uint64_t medium = cdrom.blocks() * CdRom::kBlockSize;
  for (size_t at = 10; at < size;) {
    uint8_t selector = data[at++];
    if (selector & 0x80) cdrom.reset();
    size_t length = std::min<size_t>(selector & 0x3f, size - at);  // up to 63 bytes
    std::vector<uint8_t> cdb(data + at, data + at + length);
    at += length;
    Response response = cdrom.execute(cdb);
    if (response.data.size() > CdRom::kMaxResponseBytes) std::abort();
    if (response.status == Status::good) {
      if (response.sense != Sense{}) std::abort();
      auto allocation = allocation_length(cdb);
      if (allocation && response.data.size() > *allocation) std::abort();
    } else {
      if (response.status != Status::check_condition) std::abort();
      if (response.sense.key == 0 || !response.data.empty() || response.read) std::abort();
    }
    if (response.read) {
      const MediaRead& read = *response.read;
      if (!response.data.empty() || read.length == 0 || read.length > max_read) std::abort();
      if (read.offset % CdRom::kBlockSize || read.length % CdRom::kBlockSize) std::abort();
      if (read.offset > medium || read.length > medium - read.offset) std::abort();
    }
  }
  auto sense = CdRom::fixed_sense({data[0], data[1], data[2]});
  if (sense[0] != 0x70 || sense[7] != 10 || sense[12] != data[1]) std::abort();
  return 0;
}
