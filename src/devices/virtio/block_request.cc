#include "devices/virtio/block_request.h"

#include "devices/virtio/block.h"
#include "devices/virtio/buffers.h"

namespace haven::devices::virtio {
namespace {

constexpr uint64_t kHeaderSize = 16;
constexpr uint64_t kSegmentSize = 16;
constexpr uint32_t kWriteZeroesUnmap = 1;
constexpr uint64_t kSector = Block::kSectorSize;

struct RequestHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
static_assert(sizeof(RequestHeader) == kHeaderSize);

struct Segment {
  uint64_t sector;
  uint32_t sectors;
  uint32_t flags;
};
static_assert(sizeof(Segment) == kSegmentSize);

bool in_range(const BlockGeometry& geometry, uint64_t sector, uint64_t bytes) {
  return bytes % kSector == 0 && sector <= geometry.sectors &&
         bytes / kSector <= geometry.sectors - sector;
}

}  // namespace

Result<BlockRequest> parse_block_request(const memory::GuestMemory& memory,
                                         const DescriptorChain& chain,
                                         const BlockGeometry& geometry) {
  if (chain.readable_bytes() < kHeaderSize || chain.writable_bytes() < 1)
    return make_error("request {} without a header or a status byte", chain.head());
  ChainReader reader(memory, chain);
  auto header = TRY(reader.read_object<RequestHeader>());
  BlockRequest request;
  request.type = header.type;
  // The status byte is the last device-writable byte; the data the device writes goes before.
  const Buffer& last = chain.writable().back();
  request.status = last.address + (last.length - 1);
  ChainWriter writer(memory, chain);
  uint64_t room = writer.remaining() - 1;
  uint64_t payload = reader.remaining();
  auto answer = [&](uint8_t status) {
    request.kind = BlockRequest::Kind::complete;
    request.status_value = status;
    request.data.clear();
    return request;
  };

  switch (header.type) {
    case Block::kTypeIn:
      if (!in_range(geometry, header.sector, room)) return answer(Block::kStatusIoError);
      if (room == 0) return answer(Block::kStatusOk);
      request.kind = BlockRequest::Kind::read;
      request.offset = header.sector * kSector;
      request.length = room;
      request.data = TRY(writer.take_iovecs(room));
      request.used_length = static_cast<uint32_t>(room + 1);
      return request;
    case Block::kTypeOut:
      if (geometry.readonly || !in_range(geometry, header.sector, payload))
        return answer(Block::kStatusIoError);
      if (payload == 0) return answer(Block::kStatusOk);
      request.kind = BlockRequest::Kind::write;
      request.offset = header.sector * kSector;
      request.length = payload;
      request.data = TRY(reader.take_iovecs(payload));
      return request;
    case Block::kTypeFlush:
      if (geometry.readonly) return answer(Block::kStatusOk);
      request.kind = BlockRequest::Kind::flush;
      return request;
    case Block::kTypeGetId: {
      uint64_t length = std::min<uint64_t>(room, Block::kIdBytes);
      request.kind = BlockRequest::Kind::get_id;
      request.length = length;
      request.data = TRY(writer.take_iovecs(length));
      request.used_length = static_cast<uint32_t>(length + 1);
      return request;
    }
    case Block::kTypeDiscard:
    case Block::kTypeWriteZeroes: {
      if (geometry.readonly) return answer(Block::kStatusIoError);
      if (payload != kSegmentSize) return answer(Block::kStatusUnsupported);  // one range
      auto segment = TRY(reader.read_object<Segment>());
      uint64_t bytes = uint64_t{segment.sectors} * kSector;
      if (segment.sectors > geometry.max_range_sectors ||
          !in_range(geometry, segment.sector, bytes))
        return answer(Block::kStatusIoError);
      if (bytes == 0) return answer(Block::kStatusOk);
      request.kind = header.type == Block::kTypeDiscard ? BlockRequest::Kind::discard
                                                        : BlockRequest::Kind::write_zeroes;
      request.offset = segment.sector * kSector;
      request.length = bytes;
      request.unmap = header.type == Block::kTypeDiscard || (segment.flags & kWriteZeroesUnmap);
      return request;
    }
    default:
      return answer(Block::kStatusUnsupported);
  }
}

}  // namespace haven::devices::virtio
