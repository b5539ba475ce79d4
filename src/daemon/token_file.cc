#include "daemon/token_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sys.h"

namespace haven::daemon {

Result<std::string> read_token_file(const std::string& path) {
  auto fd = TRY(sys::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st = TRY(sys::stat_fd(fd.get(), path));
  if (!S_ISREG(st.st_mode)) return make_error("token file {}: not a regular file", path);
  if (st.st_uid != ::geteuid())
    return make_error("token file {}: owned by uid {}, not by havend's user", path, st.st_uid);
  if (st.st_mode & 077)
    return make_error("token file {}: others may read it (mode {:04o}); chmod 600 it", path,
                      st.st_mode & 07777);
  auto text = TRY(sys::read_until_end(path, 4096));
  size_t start = text.find_first_not_of(" \t\r\n");
  size_t end = text.find_last_not_of(" \t\r\n");
  std::string token = start == std::string::npos ? "" : text.substr(start, end - start + 1);
  if (token.size() < 16)
    return make_error("token file {}: the token must be at least 16 characters", path);
  if (token.find_first_of(" \t\r\n") != std::string::npos)
    return make_error("token file {}: one token without spaces or line breaks", path);
  return token;
}

bool same_token(std::string_view given, std::string_view expected) {
  unsigned char differ = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i)
    differ |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : 0));
  return differ == 0;
}

}  // namespace haven::daemon
