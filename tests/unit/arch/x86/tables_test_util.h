#pragma once

// Helpers to walk the firmware tables Haven writes, as a guest would.

#include <cstdint>
#include <cstring>
#include <numeric>
#include <span>

namespace haven::arch::x86::testing {

inline uint8_t byte_sum(std::span<const uint8_t> bytes) {
  return static_cast<uint8_t>(std::accumulate(bytes.begin(), bytes.end(), 0u));
}

template <class T>
T load(std::span<const uint8_t> bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

}  // namespace haven::arch::x86::testing
