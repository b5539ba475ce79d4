#include "devices/legacy/i8042.h"

#include <algorithm>

namespace haven::devices::legacy {
namespace {

constexpr uint64_t kCommandOffset = 4;
constexpr uint8_t kCommandPulseReset = 0xfe;

}  // namespace

void I8042::read(uint64_t, std::span<uint8_t> data) {
  // Data port: nothing buffered. Status: output buffer empty, input buffer empty.
  std::fill(data.begin(), data.end(), m_presence == Presence::controller ? 0 : 0xff);
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset == kCommandOffset && data.size() == 1 && data[0] == kCommandPulseReset)
    m_on_request(GuestRequest::reset);
}

}  // namespace haven::devices::legacy
