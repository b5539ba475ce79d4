#pragma once

// The TCP API's TLS identity: a certificate and its private key (PEM files), and the
// certificate's SHA-256 fingerprint, which havend logs at every start so that a client can pin
// it or compare it with what its first connection is shown.
//   - Given: havend --tls-cert FILE --tls-key FILE. The key must be havend's own and readable
//     by no one else (as the token file), and must belong to the certificate.
//   - Otherwise made once: a self-signed certificate (ECDSA P-256, valid ten years) for this
//     host's name, localhost, 127.0.0.1, ::1 and the address TCP listens on, kept in STATE/tls
//     (cert.pem, key.pem 0600) and used again at every later start.

#include <string>

#include "base/error.h"

namespace haven::daemon {

struct TlsIdentity {
  std::string certificate_path;
  std::string key_path;
  std::string fingerprint;  // "SHA256:AB:CD:..." of the certificate's DER bytes
  bool made_now = false;    // self-signed, made by this call
};

// The pair an administrator gave, checked: both readable PEM, the key not readable by others
// and owned by havend's user, and the key the certificate's.
Result<TlsIdentity> load_tls_identity(const std::string& certificate_path,
                                      const std::string& key_path);

// DIRECTORY/cert.pem and DIRECTORY/key.pem, made first if neither is there (DIRECTORY too,
// 0700); LISTEN_HOST joins the certificate's names when it is a specific address or name.
Result<TlsIdentity> self_signed_tls_identity(const std::string& directory,
                                             const std::string& listen_host);

}  // namespace haven::daemon
