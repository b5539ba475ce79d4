#include "devices/device_state.h"

#include "base/hex.h"

namespace haven::devices {

std::string state_bytes(std::span<const uint8_t> bytes) {
  return to_hex(bytes.data(), bytes.size());
}

Result<void> state_bytes_into(const DeviceState& state, const char* name, std::span<uint8_t> out) {
  auto text = TRY(state_field<std::string>(state, name));
  if (text.size() != 2 * out.size())
    return make_error("state field '{}' holds {} bytes, not {}", name, text.size() / 2, out.size());
  TRY(with_context(from_hex(text, out.data(), out.size()), "state field '{}'", name));
  return {};
}

Result<std::vector<uint8_t>> state_byte_vector(const DeviceState& state, const char* name,
                                               size_t max) {
  auto text = TRY(state_field<std::string>(state, name));
  if (text.size() % 2 || text.size() / 2 > max)
    return make_error("state field '{}' is not up to {} bytes of hex", name, max);
  std::vector<uint8_t> bytes(text.size() / 2);
  TRY(with_context(from_hex(text, bytes.data(), bytes.size()), "state field '{}'", name));
  return bytes;
}

}  // namespace haven::devices
