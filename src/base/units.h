#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace haven {

inline constexpr uint64_t KiB = 1024;
inline constexpr uint64_t MiB = 1024 * KiB;
inline constexpr uint64_t GiB = 1024 * MiB;

// "512M", "2G", "1536K", "4096" (a bare number counts in `bare_unit` bytes, MiB for memory
// sizes as in QEMU's -m). Suffixes are binary (K = 1024), case-insensitive, "iB"/"B" allowed.
Result<uint64_t> parse_size(std::string_view text, uint64_t bare_unit);

// 536870912 -> "512 MiB"; exact units where possible.
std::string format_size(uint64_t bytes);
// 1288490189 -> "1.2 GiB": rounded to three significant digits, for progress and tables.
std::string human_size(uint64_t bytes);

}  // namespace haven
