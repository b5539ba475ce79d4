#pragma once

// The TCP API's TLS identity: a certificate (with any intermediate certificates after it) and
// its private key, as PEM files, and the certificate's SHA-256 fingerprint, which havend logs
// at every start so that a client can pin it or compare it with what its first connection is
// shown. Each file is read once, through one descriptor: what was checked is what is served.
//   - Given: havend --tls-cert FILE --tls-key FILE (symbolic links followed, as certbot's
//     live/ directory has them). The key must be havend's user's and readable by no one else
//     (as the token file), unencrypted, and must belong to the certificate.
//   - Otherwise made once: a self-signed certificate (ECDSA P-256, valid ten years) for this
//     host's name, localhost, 127.0.0.1, ::1 and the address TCP listens on at that first start,
//     kept in STATE/tls (cert.pem, key.pem 0600) and used again at every later start.

#include <openssl/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"

namespace haven::daemon {

struct TlsIdentity {
  std::string certificate_path;
  std::string key_path;
  std::string fingerprint;  // "SHA256:AB:CD:..." of the certificate's DER bytes
  bool made_now = false;    // self-signed, made by this call
  std::shared_ptr<X509> certificate;
  std::vector<std::shared_ptr<X509>> chain;  // intermediates that followed it in its file
  std::shared_ptr<EVP_PKEY> key;
};

// The pair an administrator gave, checked: both readable PEM, the key not readable by others,
// owned by havend's user, unencrypted, and the certificate's.
Result<TlsIdentity> load_tls_identity(const std::string& certificate_path,
                                      const std::string& key_path);

// DIRECTORY/cert.pem and DIRECTORY/key.pem, made first (with DIRECTORY, 0700) if DIRECTORY is
// not there; LISTEN_HOST joins the new certificate's names when it is a specific address or
// name. A kept certificate that does not name LISTEN_HOST is used still, with a warning.
Result<TlsIdentity> self_signed_tls_identity(const std::string& directory,
                                             const std::string& listen_host);

}  // namespace haven::daemon
