#include "store/key_handoff.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include <openssl/crypto.h>

#include "base/hex.h"
#include "base/sys.h"

namespace haven::store {
namespace {

constexpr std::string_view kHeader = "haven-repo-keys 1";

}  // namespace

std::string encode_key_handoff(const KeyHandoff& handoff) {
  return fmt::format("{}\n{}\n{}\n{}\n", kHeader, handoff.repository,
                     to_hex(handoff.keys.data.data(), handoff.keys.data.size()),
                     to_hex(handoff.keys.id.data(), handoff.keys.id.size()));
}

Result<KeyHandoff> decode_key_handoff(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    if (end == std::string_view::npos) return make_error("repository keys: no final newline");
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  if (lines.size() != 4 || lines[0] != kHeader || lines[1].empty())
    return make_error("repository keys: not a key handoff");
  KeyHandoff handoff;
  handoff.repository = lines[1];
  TRY(with_context(from_hex(lines[2], handoff.keys.data.data(), handoff.keys.data.size()),
                   "repository keys"));
  TRY(with_context(from_hex(lines[3], handoff.keys.id.data(), handoff.keys.id.size()),
                   "repository keys"));
  return handoff;
}

Result<UniqueFd> key_handoff_memfd(const KeyHandoff& handoff) {
  UniqueFd fd(::memfd_create("haven-repo-keys", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return errno_error("memfd_create");
  std::string text = encode_key_handoff(handoff);
  auto written = sys::write_all(
      fd.get(), std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  OPENSSL_cleanse(text.data(), text.size());
  TRY(written);
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return errno_error("seal the key memfd");
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return errno_error("rewind the key memfd");
  return fd;
}

Result<std::optional<KeyHandoff>> inherited_key_handoff() {
  const char* value = std::getenv(kKeyHandoffEnv);
  if (!value) return std::nullopt;
  int fd = std::atoi(value);
  if (fd < 3) return make_error("{}={}: not an inherited descriptor", kKeyHandoffEnv, value);
  UniqueFd inherited(fd);  // closed however this ends: the keys are read once
  char buffer[512];
  ssize_t got = ::pread(fd, buffer, sizeof(buffer), 0);
  if (got < 0) return errno_error("{}={}", kKeyHandoffEnv, value);
  inherited.reset();
  ::unsetenv(kKeyHandoffEnv);
  auto handoff = decode_key_handoff(std::string_view(buffer, static_cast<size_t>(got)));
  OPENSSL_cleanse(buffer, sizeof(buffer));
  if (!handoff) return std::unexpected(std::move(handoff).error());
  return std::optional(std::move(*handoff));
}

}  // namespace haven::store
