#include "daemon/token_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "base/sys.h"

namespace haven::daemon {

std::string_view role_name(TokenRole role) {
  switch (role) {
    case TokenRole::read_only:
      return "read-only";
    case TokenRole::operator_:
      return "operator";
    case TokenRole::admin:
      return "admin";
  }
  return "admin";
}

Result<std::vector<ApiToken>> read_token_file(const std::string& path) {
  auto fd = TRY(sys::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st = TRY(sys::stat_fd(fd.get(), path));
  if (!S_ISREG(st.st_mode)) return make_error("token file {}: not a regular file", path);
  if (st.st_uid != ::geteuid())
    return make_error("token file {}: owned by uid {}, not by havend's user", path, st.st_uid);
  if (st.st_mode & 077)
    return make_error("token file {}: others may read it (mode {:04o}); chmod 600 it", path,
                      st.st_mode & 07777);
  auto text = TRY(sys::read_until_end(path, 1 << 20));
  std::vector<ApiToken> tokens;
  std::vector<bool> bare;  // per token: given without a role
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    std::istringstream words(line);
    std::vector<std::string> parts;
    for (std::string word; words >> word;) parts.push_back(word);
    if (parts.empty() || parts[0].starts_with('#')) continue;
    ApiToken token;
    token.name = fmt::format("line {}", number);
    if (parts.size() == 1) {
      token.secret = parts[0];
    } else if (parts.size() <= 3) {
      if (parts[0] == "read-only")
        token.role = TokenRole::read_only;
      else if (parts[0] == "operator")
        token.role = TokenRole::operator_;
      else if (parts[0] == "admin")
        token.role = TokenRole::admin;
      else
        return make_error("token file {}: line {}: '{}' is not a role (read-only, operator, admin)",
                          path, number, parts[0]);
      token.secret = parts[1];
      if (parts.size() == 3) token.name = parts[2];
    } else {
      return make_error("token file {}: line {}: expected TOKEN or ROLE TOKEN [NAME]", path,
                        number);
    }
    if (token.secret.size() < 16)
      return make_error("token file {}: line {}: the token must be at least 16 characters", path,
                        number);
    for (const ApiToken& earlier : tokens)
      if (earlier.secret == token.secret)
        return make_error("token file {}: line {}: the same token as {}", path, number,
                          earlier.name);
    bare.push_back(parts.size() == 1);
    tokens.push_back(std::move(token));
  }
  if (tokens.empty()) return make_error("token file {}: holds no token", path);
  // A bare token is an admin's only in a file of one: a line appended without its role must
  // not quietly make another admin.
  if (tokens.size() > 1)
    for (size_t i = 0; i < bare.size(); ++i)
      if (bare[i])
        return make_error(
            "token file {}: {}: give its role (ROLE TOKEN [NAME]) in a file of more "
            "than one token",
            path, tokens[i].name);
  return tokens;
}

std::optional<ApiToken> find_token(std::string_view given, const std::vector<ApiToken>& tokens) {
  std::optional<ApiToken> found;
  for (const ApiToken& token : tokens)  // every one compared: the time says nothing
    if (same_token(given, token.secret) && !found) found = token;
  return found;
}

bool same_token(std::string_view given, std::string_view expected) {
  unsigned char differ = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i)
    differ |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : 0));
  return differ == 0;
}

bool role_allows(TokenRole role, std::string_view method, std::string_view path) {
  if (method == "GET" || method == "HEAD") return true;
  if (role == TokenRole::admin) return true;
  if (role == TokenRole::read_only) return false;
  // An operator runs and protects the guests an admin defined.
  // Not restores: they define new guests (with a kernel and command line of their choosing).
  static const std::regex operated(
      R"(/v1/vms/[^/]+/(start|stop|kill|pause|resume|snapshot|backup|fill|console))");
  return method == "POST" && std::regex_match(path.begin(), path.end(), operated);
}

}  // namespace haven::daemon
