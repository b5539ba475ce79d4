#pragma once

// The bearer tokens that guard havend's TCP API, read from a file only its owner can read,
// each with a role that says what its holder may do (docs/API.md, "Trust model").

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace haven::daemon {

// read_only: every GET (guests, metrics, console output, events, jobs). operator: also what
// runs and protects guests (start, stop, kill, pause, resume, snapshot, backup, fill, console
// input). admin: also what defines them (create, replace, delete, restore into a new guest).
enum class TokenRole { read_only, operator_, admin };
std::string_view role_name(TokenRole role);  // "read-only", "operator", "admin"

struct ApiToken {
  TokenRole role = TokenRole::admin;
  std::string secret;
  std::string name;  // who holds it, for the audit log: the file's NAME, else "line N"
};

// The file must be a regular file owned by this user with no group or other permissions
// (0600 or stricter). Each line that is not blank or a # comment is one token:
//   TOKEN                  (an admin's: a file of one token reads as before roles)
//   ROLE TOKEN [NAME]      (ROLE: read-only, operator or admin)
// Tokens are at least 16 characters and differ from each other. Anything else is an error
// naming the line and what to fix.
Result<std::vector<ApiToken>> read_token_file(const std::string& path);

// The token whose secret `given` is, comparing against every one in time that does not depend
// on where the inputs first differ or which token matched.
std::optional<ApiToken> find_token(std::string_view given, const std::vector<ApiToken>& tokens);

// Compares in time that does not depend on where the inputs first differ.
bool same_token(std::string_view given, std::string_view expected);

// Whether ROLE may make this request: METHOD on PATH (an /v1/... path).
bool role_allows(TokenRole role, std::string_view method, std::string_view path);

}  // namespace haven::daemon
