#pragma once

// keys/main.json in an encrypted repository: the master keys, sealed with a key derived from
// the passphrase by scrypt (salt and cost stored beside them). A wrong passphrase fails the
// seal's authentication and says so.

#include <string>
#include <string_view>

#include "base/error.h"
#include "store/crypto.h"

namespace haven::store {

Result<std::string> make_key_file(const MasterKeys& keys, std::string_view passphrase,
                                  const KdfParams& params = {});
Result<MasterKeys> unlock_key_file(std::string_view text, std::string_view passphrase);

}  // namespace haven::store
