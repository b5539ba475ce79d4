#pragma once

#include <compare>
#include <cstdint>

#include <fmt/format.h>

namespace haven::memory {

// A guest-physical address. It cannot be dereferenced: host access goes through GuestMemory,
// which checks the range first.
class GuestAddr {
 public:
  constexpr GuestAddr() = default;
  constexpr explicit GuestAddr(uint64_t value) : m_value(value) {}

  constexpr uint64_t value() const { return m_value; }
  // Wraps like the hardware would; GuestMemory rejects ranges that wrap.
  constexpr GuestAddr operator+(uint64_t offset) const { return GuestAddr(m_value + offset); }
  constexpr auto operator<=>(const GuestAddr&) const = default;

 private:
  uint64_t m_value = 0;
};

}  // namespace haven::memory

template <>
struct fmt::formatter<haven::memory::GuestAddr> : fmt::formatter<uint64_t> {
  auto format(haven::memory::GuestAddr addr, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{:#x}", addr.value());
  }
};
