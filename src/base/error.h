#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace haven {

// What kind of failure an error is, for a caller that must react to it rather than only
// show it: havend turns kinds into HTTP statuses (daemon/http_status.h), in one place.
enum class ErrorKind {
  internal,     // something failed that the caller could not have prevented (the default)
  invalid,      // the request was malformed; field() names the part of it at fault
  not_found,    // what the request names does not exist
  conflict,     // the request is valid, but the state of things is in its way
  unavailable,  // a resource is missing or busy for now; trying later may work
  forbidden,    // the caller may not do this (a path outside what havend may touch)
};

// An error on its way up: the innermost failure (a message, plus the errno when a syscall
// failed) with the context each layer added as it rose, outermost first:
//   "kernel /boot/vmlinuz: open: No such file or directory".
// It keeps a kind and, for some kinds, the field it is about; context does not change them.
class Error {
 public:
  // `what` names the failed call and its object; the errno text is appended.
  static Error from_errno(std::string_view what, int err);
  static Error from_message(std::string message) { return Error(std::move(message), 0); }

  // Prepends "context: ".
  [[nodiscard]] Error with_context(std::string_view context) &&;
  // Sets the kind, and the field when one is given (the outermost call that names a field
  // wins: it knows the name the caller used).
  [[nodiscard]] Error with_kind(ErrorKind kind, std::string field = {}) &&;

  const std::string& message() const { return m_message; }
  // The errno of the innermost failure, 0 if it was not a syscall.
  int code() const { return m_code; }
  ErrorKind kind() const { return m_kind; }
  // The request field the error is about ("memory", "disks[0]"), empty if none.
  const std::string& field() const { return m_field; }

 private:
  Error(std::string message, int code) : m_message(std::move(message)), m_code(code) {}

  std::string m_message;
  int m_code = 0;
  ErrorKind m_kind = ErrorKind::internal;
  std::string m_field;
};

const char* to_string(ErrorKind kind);
// The kind to_string() named; internal for anything else.
ErrorKind error_kind_from_string(std::string_view name);

template <class T = void>
using Result = std::expected<T, Error>;

// `return make_error("bad {} at {:#x}", what, addr);`
template <class... Args>
[[nodiscard]] std::unexpected<Error> make_error(fmt::format_string<Args...> format,
                                                Args&&... args) {
  return std::unexpected(Error::from_message(fmt::format(format, std::forward<Args>(args)...)));
}

// An error of a kind about a field, read "FIELD: TEXT":
// `return field_error(ErrorKind::invalid, "cpus", "expected 1 to {}", max);`
template <class... Args>
[[nodiscard]] std::unexpected<Error> field_error(ErrorKind kind, std::string field,
                                                 fmt::format_string<Args...> format,
                                                 Args&&... args) {
  std::string message =
      fmt::format("{}: {}", field, fmt::format(format, std::forward<Args>(args)...));
  return std::unexpected(Error::from_message(std::move(message)).with_kind(kind, std::move(field)));
}

// Adds "FIELD: " before a failed result's message and makes it an error of `kind` about FIELD.
template <class T>
[[nodiscard]] Result<T> about_field(Result<T>&& result, ErrorKind kind, std::string field) {
  if (result) return std::move(result);
  std::string context = field;
  return std::unexpected(
      std::move(result).error().with_context(context).with_kind(kind, std::move(field)));
}

// Sets the kind (and the field, when given) of a failed result; the message stays.
template <class T>
[[nodiscard]] Result<T> with_kind(Result<T>&& result, ErrorKind kind, std::string field = {}) {
  if (result) return std::move(result);
  return std::unexpected(std::move(result).error().with_kind(kind, std::move(field)));
}

// An error of a kind about no field in particular: `kind_error(ErrorKind::not_found, ...)`.
template <class... Args>
[[nodiscard]] std::unexpected<Error> kind_error(ErrorKind kind, fmt::format_string<Args...> format,
                                                Args&&... args) {
  return std::unexpected(
      Error::from_message(fmt::format(format, std::forward<Args>(args)...)).with_kind(kind));
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
