#pragma once

// Device state for snapshots: a JSON object per device with named fields (byte arrays as hex),
// so a snapshot can be read and checked by eye. A device restores only state its own kind
// saved; a snapshot file is still input from disk, so a missing, mistyped or out-of-range
// field is an error naming it, never a crash or a silent truncation.

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace haven::devices {

using DeviceState = nlohmann::json;

// Field `name` of the object `state` as T (bool, an integer type within range, or std::string).
template <class T>
Result<T> state_field(const DeviceState& state, const char* name) {
  if (!state.is_object() || !state.contains(name)) return make_error("state has no '{}'", name);
  const DeviceState& value = state.at(name);
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) return make_error("state field '{}' is not a boolean", name);
    return value.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!value.is_number_integer()) return make_error("state field '{}' is not an integer", name);
    if constexpr (std::is_signed_v<T>) {
      if (value.is_number_unsigned() &&
          value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        return make_error("state field '{}' is out of range", name);
      auto number = value.get<int64_t>();
      if (number < std::numeric_limits<T>::min() || number > std::numeric_limits<T>::max())
        return make_error("state field '{}' is out of range", name);
      return static_cast<T>(number);
    } else {
      // A non-negative number parsed or built as signed is fine too.
      if (!value.is_number_unsigned() && value.get<int64_t>() < 0)
        return make_error("state field '{}' is out of range", name);
      if (value.get<uint64_t>() > std::numeric_limits<T>::max())
        return make_error("state field '{}' is out of range", name);
      return static_cast<T>(value.get<uint64_t>());
    }
  } else {
    static_assert(std::is_same_v<T, std::string>);
    if (!value.is_string()) return make_error("state field '{}' is not a string", name);
    return value.get<std::string>();
  }
}

// Bytes as a hex string, and back: exactly `out.size()` bytes, or at most `max` bytes.
std::string state_bytes(std::span<const uint8_t> bytes);
Result<void> state_bytes_into(const DeviceState& state, const char* name, std::span<uint8_t> out);
Result<std::vector<uint8_t>> state_byte_vector(const DeviceState& state, const char* name,
                                               size_t max);

// Trivially copyable structs (the kernel's KVM state) as hex of their bytes, and back.
template <class T>
requires std::is_trivially_copyable_v<T> std::string state_struct(const T& value) {
  return state_bytes(std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
}
template <class T>
requires std::is_trivially_copyable_v<T> Result<T> state_struct_field(const DeviceState& state,
                                                                      const char* name) {
  T value{};
  TRY(state_bytes_into(state, name, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
  return value;
}

}  // namespace haven::devices
