#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace haven {

// An error on its way up: the innermost failure (a message, plus the errno when a syscall
// failed) with the context each layer added as it rose, outermost first:
//   "kernel /boot/vmlinuz: open: No such file or directory".
class Error {
 public:
  // `what` names the failed call and its object; the errno text is appended.
  static Error from_errno(std::string_view what, int err);
  static Error from_message(std::string message) { return Error(std::move(message), 0); }

  // Prepends "context: ".
  [[nodiscard]] Error with_context(std::string_view context) &&;

  const std::string& message() const { return m_message; }
  // The errno of the innermost failure, 0 if it was not a syscall.
  int code() const { return m_code; }

 private:
  Error(std::string message, int code) : m_message(std::move(message)), m_code(code) {}

  std::string m_message;
  int m_code = 0;
};

template <class T = void>
using Result = std::expected<T, Error>;

// `return make_error("bad {} at {:#x}", what, addr);`
template <class... Args>
[[nodiscard]] std::unexpected<Error> make_error(fmt::format_string<Args...> format,
                                                Args&&... args) {
  return std::unexpected(Error::from_message(fmt::format(format, std::forward<Args>(args)...)));
}

// Captures errno first, so formatting cannot clobber it: `return errno_error("open {}", path);`
template <class... Args>
[[nodiscard]] std::unexpected<Error> errno_error(fmt::format_string<Args...> format,
                                                 Args&&... args) {
  int err = errno;
  return std::unexpected(Error::from_errno(fmt::format(format, std::forward<Args>(args)...), err));
}

// Adds context to a failed result; the context is only formatted when there is an error.
template <class T, class... Args>
[[nodiscard]] Result<T> with_context(Result<T>&& result, fmt::format_string<Args...> format,
                                     Args&&... args) {
  if (result) return std::move(result);
  return std::unexpected(
      std::move(result).error().with_context(fmt::format(format, std::forward<Args>(args)...)));
}

}  // namespace haven

// Evaluates a Result; on error returns it from the enclosing function, otherwise yields the
// value (a GCC/Clang statement expression, the same device SerenityOS's TRY uses).
#define TRY(...)                                                    \
  ({                                                                \
    auto _haven_try_result = (__VA_ARGS__);                         \
    if (!_haven_try_result) [[unlikely]]                            \
      return std::unexpected(std::move(_haven_try_result).error()); \
    std::move(_haven_try_result).value();                           \
  })
