#pragma once

#include <fmt/format.h>

#include <string_view>

namespace haven::log {

enum class Level { debug, info, warn, error };

// Messages go to stderr as "<program>: <level>: <text>". Thread-safe.
void set_program_name(std::string_view name);
void set_level(Level level);
Level level();
// While the terminal is raw (no output processing), lines must end in "\r\n".
void set_raw_terminal(bool raw);
void write(Level level, std::string_view message);

template <class... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  if (level() <= Level::debug)
    write(Level::debug, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  if (level() <= Level::info) write(Level::info, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::warn, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::error, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace haven::log
