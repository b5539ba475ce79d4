#include "base/units.h"

#include <cctype>
#include <charconv>
#include <limits>

namespace haven {

Result<uint64_t> parse_size(std::string_view text, uint64_t bare_unit) {
  uint64_t number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec == std::errc::result_out_of_range) return make_error("'{}' is too large", text);
  if (ec != std::errc() || ptr == begin)
    return make_error("'{}' is not a size (expected a number with K, M, G or T, like 512M)", text);
  std::string suffix;
  for (const char* p = ptr; p != end; ++p) suffix += static_cast<char>(std::toupper(*p));
  uint64_t unit;
  if (suffix.empty()) {
    unit = bare_unit;
  } else if (suffix == "B") {
    unit = 1;
  } else {
    static constexpr std::string_view kUnits = "KMGT";
    size_t index = kUnits.find(suffix[0]);
    if (index == std::string_view::npos ||
        !(suffix.size() == 1 || suffix.substr(1) == "B" || suffix.substr(1) == "IB"))
      return make_error("'{}' has an unknown unit (use K, M, G or T)", text);
    unit = KiB;
    for (size_t i = 0; i < index; ++i) unit *= 1024;
  }
  if (number > std::numeric_limits<uint64_t>::max() / unit)
    return make_error("'{}' is too large", text);
  return number * unit;
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kNames[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  size_t index = 0;
  uint64_t value = bytes;
  while (index + 1 < std::size(kNames) && value >= 1024 && value % 1024 == 0) {
    value /= 1024;
    ++index;
  }
  return fmt::format("{} {}", value, kNames[index]);
}

std::string human_size(uint64_t bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  size_t index = 0;
  while (index + 1 < std::size(kNames) && value >= 1000) {
    value /= 1024;
    ++index;
  }
  if (index == 0) return fmt::format("{} B", bytes);
  if (value < 10) return fmt::format("{:.2f} {}", value, kNames[index]);
  if (value < 100) return fmt::format("{:.1f} {}", value, kNames[index]);
  return fmt::format("{:.0f} {}", value, kNames[index]);
}

}  // namespace haven
