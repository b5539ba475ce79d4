#include "daemon/tls_identity.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <memory>
#include <vector>

#include "base/atomic_file.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/sys.h"

namespace haven::daemon {

namespace {

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* object) const { Free(object); }
};
using Bio = std::unique_ptr<BIO, Freer<BIO, BIO_free_all>>;
using Certificate = std::unique_ptr<X509, Freer<X509, X509_free>>;
using Key = std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY, EVP_PKEY_free>>;

constexpr long kValidSeconds = 10L * 365 * 24 * 3600;
constexpr size_t kMaxPemBytes = 1 << 20;

std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "OpenSSL gave no reason";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

bool is_address(const std::string& host, int family) {
  unsigned char buffer[16];
  return ::inet_pton(family, host.c_str(), buffer) == 1;
}

// No passphrase is ever asked for (OpenSSL's default would prompt on the terminal).
int no_passphrase(char*, int, int, void*) {
  return -1;
}

// WHAT ("TLS certificate", "TLS key") names the file in errors. Links are followed; the file
// is read through the descriptor it was checked on.
Result<std::string> read_pem(const std::string& path, std::string_view what, bool secret) {
  // O_NONBLOCK: a FIFO given as a file must not hang havend before it is refused below.
  auto fd = TRY(with_context(sys::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), "{}", what));
  struct stat st = TRY(with_context(sys::stat_fd(fd.get(), path), "{}", what));
  if (!S_ISREG(st.st_mode)) return make_error("{} {}: not a regular file", what, path);
  // The key is what makes a client trust havend: havend's own, and no one else's.
  if (secret && st.st_uid != ::geteuid())
    return make_error("{} {}: owned by uid {}, not by havend's user", what, path, st.st_uid);
  if (secret && (st.st_mode & 077))
    return make_error("{} {}: others may read it (mode {:04o}); chmod 600 it", what, path,
                      st.st_mode & 07777);
  if (static_cast<uint64_t>(st.st_size) > kMaxPemBytes)
    return make_error("{} {}: over {} bytes", what, path, kMaxPemBytes);
  std::string text(static_cast<size_t>(st.st_size), '\0');
  TRY(with_context(
      sys::read_at(fd.get(), {reinterpret_cast<uint8_t*>(text.data()), text.size()}, 0), "{}",
      what));
  return text;
}

// The first certificate and any that follow it (the chain).
Result<std::vector<Certificate>> parse_certificates(const std::string& pem,
                                                    const std::string& path) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<Certificate> certificates;
  while (bio) {
    Certificate next(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
    if (!next) break;
    certificates.push_back(std::move(next));
  }
  ERR_clear_error();  // the end of the text reads as an error
  if (certificates.empty()) return make_error("TLS certificate {}: not a PEM certificate", path);
  return certificates;
}

Result<Key> parse_key(const std::string& pem, const std::string& path) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Key key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
  if (!key)
    return make_error("TLS key {}: not an unencrypted PEM private key ({})", path,
                      openssl_reason());
  return key;
}

Result<std::string> fingerprint_of(X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha256(), digest, &length) != 1)
    return make_error("TLS certificate fingerprint: {}", openssl_reason());
  // OpenSSL's and curl's way of writing it: upper-case pairs joined by colons.
  std::string text = "SHA256:";
  for (unsigned int i = 0; i < length; ++i) {
    if (i > 0) text += ':';
    for (char c : to_hex(digest + i, 1)) text += static_cast<char>(std::toupper(c));
  }
  return text;
}

// What OpenSSL's TLS server will take (its security level refuses, say, an RSA key of 1024
// bits or a certificate signed with SHA-1): asked now, while havend still has a terminal,
// rather than when the server starts after daemonizing.
Result<void> check_servable(const TlsIdentity& identity) {
  std::unique_ptr<SSL_CTX, Freer<SSL_CTX, SSL_CTX_free>> context(SSL_CTX_new(TLS_server_method()));
  bool taken = context && SSL_CTX_use_certificate(context.get(), identity.certificate.get()) == 1 &&
               SSL_CTX_use_PrivateKey(context.get(), identity.key.get()) == 1;
  for (const auto& intermediate : identity.chain)
    taken = taken && SSL_CTX_add1_chain_cert(context.get(), intermediate.get()) == 1;
  if (!taken)
    return make_error("TLS: OpenSSL will not serve the certificate {} with the key {}: {}",
                      identity.certificate_path, identity.key_path, openssl_reason());
  return {};
}

Result<TlsIdentity> check_pair(const std::string& certificate_path, const std::string& key_path) {
  std::string key_pem = TRY(read_pem(key_path, "TLS key", true));
  std::string certificate_pem = TRY(read_pem(certificate_path, "TLS certificate", false));
  auto certificates = TRY(parse_certificates(certificate_pem, certificate_path));
  auto key = parse_key(key_pem, key_path);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (!key) return std::unexpected(std::move(key).error());
  if (X509_check_private_key(certificates[0].get(), key->get()) != 1) {
    ERR_clear_error();
    return make_error("TLS key {} does not belong to the certificate {}", key_path,
                      certificate_path);
  }
  TlsIdentity identity;
  identity.certificate_path = certificate_path;
  identity.key_path = key_path;
  identity.fingerprint = TRY(fingerprint_of(certificates[0].get()));
  identity.certificate = std::shared_ptr<X509>(certificates[0].release(), X509_free);
  for (size_t i = 1; i < certificates.size(); ++i)
    identity.chain.push_back(std::shared_ptr<X509>(certificates[i].release(), X509_free));
  identity.key = std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free);
  TRY(check_servable(identity));
  return identity;
}

// Whether the certificate names HOST (an address or a DNS name): a kept certificate made for
// another --listen address would fail clients that check names.
bool names_host(X509* certificate, const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "::") return true;
  if (is_address(host, AF_INET) || is_address(host, AF_INET6))
    return X509_check_ip_asc(certificate, host.c_str(), 0) == 1;
  return X509_check_host(certificate, host.c_str(), host.size(), 0, nullptr) == 1;
}

// DNS:NAME and IP:ADDRESS entries, each once.
std::string alternative_names(const std::string& listen_host) {
  std::vector<std::string> names = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
  char hostname[256] = {};
  if (::gethostname(hostname, sizeof(hostname) - 1) == 0 && hostname[0] != '\0')
    names.push_back(std::string("DNS:") + hostname);
  if (!listen_host.empty() && listen_host != "0.0.0.0" && listen_host != "::") {
    bool address = is_address(listen_host, AF_INET) || is_address(listen_host, AF_INET6);
    names.push_back((address ? "IP:" : "DNS:") + listen_host);
  }
  std::string joined;
  for (const std::string& name : names) {
    if (("," + joined + ",").find("," + name + ",") != std::string::npos) continue;
    if (!joined.empty()) joined += ',';
    joined += name;
  }
  return joined;
}

Result<void> add_extension(X509* certificate, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Freer<X509_EXTENSION, X509_EXTENSION_free>> extension(
      X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1)
    return make_error("TLS certificate: extension {}: {}", value, openssl_reason());
  return {};
}

Result<std::pair<std::string, std::string>> make_self_signed(const std::string& listen_host) {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return make_error("TLS key: {}", openssl_reason());
  Certificate certificate(X509_new());
  if (!certificate) return make_error("TLS certificate: {}", openssl_reason());
  uint8_t serial[16];
  TRY(sys::random_bytes(serial));
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, Freer<BIGNUM, BN_free>> number(
      BN_bin2bn(serial, sizeof(serial), nullptr));
  // The host's names are in subjectAltName (clients check those); a common name that fits
  // its 64 bytes whatever the host is called.
  const unsigned char common_name[] = "havend";
  X509_NAME* name = X509_get_subject_name(certificate.get());
  if (!number || X509_set_version(certificate.get(), 2) != 1 ||
      !BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(certificate.get())) ||
      !X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(certificate.get()), kValidSeconds) ||
      X509_set_pubkey(certificate.get(), key.get()) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, common_name, -1, -1, 0) != 1 ||
      X509_set_issuer_name(certificate.get(), name) != 1)
    return make_error("TLS certificate: {}", openssl_reason());
  TRY(add_extension(certificate.get(), NID_basic_constraints, "critical,CA:FALSE"));
  TRY(add_extension(certificate.get(), NID_key_usage, "critical,digitalSignature"));
  TRY(add_extension(certificate.get(), NID_ext_key_usage, "serverAuth"));
  TRY(add_extension(certificate.get(), NID_subject_alt_name, alternative_names(listen_host)));
  TRY(add_extension(certificate.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(certificate.get(), key.get(), EVP_sha256()) == 0)
    return make_error("TLS certificate: signing: {}", openssl_reason());
  Bio certificate_pem(BIO_new(BIO_s_mem()));
  Bio key_pem(BIO_new(BIO_s_mem()));
  if (!certificate_pem || !key_pem ||
      PEM_write_bio_X509(certificate_pem.get(), certificate.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1)
    return make_error("TLS: writing PEM: {}", openssl_reason());
  auto text = [](BIO* bio) {
    char* data = nullptr;
    long length = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(length));
  };
  return std::pair{text(certificate_pem.get()), text(key_pem.get())};
}

std::span<const uint8_t> bytes_of_text(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Makes the pair in a directory of its own, which then takes DIRECTORY's name in one rename:
// a crash leaves either nothing (and a stray DIRECTORY.new-* to ignore) or the whole pair.
Result<void> make_directory_with_pair(const std::string& directory,
                                      const std::string& listen_host) {
  std::string staging = directory + ".new-XXXXXX";
  if (!::mkdtemp(staging.data())) return errno_error("mkdtemp {}", staging);
  auto made = [&]() -> Result<void> {
    auto [certificate_pem, key_pem] = TRY(make_self_signed(listen_host));
    auto wrote_key = write_file_atomic(staging + "/key.pem", bytes_of_text(key_pem), true, 0600);
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
    TRY(std::move(wrote_key));
    TRY(write_file_atomic(staging + "/cert.pem", bytes_of_text(certificate_pem), true, 0644));
    if (::rename(staging.c_str(), directory.c_str()) != 0) {
      // Another havend made it meanwhile (ENOTEMPTY, EEXIST): that pair is used.
      if (errno == ENOTEMPTY || errno == EEXIST) return {};
      return errno_error("rename {} to {}", staging, directory);
    }
    // The pair is in place even if this fails; the next start finds it either way.
    (void)fsync_parent_directory(directory);
    return {};
  }();
  if (!made || TRY(sys::exists(staging))) {
    (void)sys::remove_file(staging + "/key.pem", true);
    (void)sys::remove_file(staging + "/cert.pem", true);
    ::rmdir(staging.c_str());
  }
  return made;
}

}  // namespace

Result<TlsIdentity> load_tls_identity(const std::string& certificate_path,
                                      const std::string& key_path) {
  return check_pair(certificate_path, key_path);
}

Result<TlsIdentity> self_signed_tls_identity(const std::string& directory,
                                             const std::string& listen_host) {
  std::string certificate_path = directory + "/cert.pem";
  std::string key_path = directory + "/key.pem";
  bool made = false;
  if (!TRY(sys::exists(directory))) {
    TRY(make_directory_with_pair(directory, listen_host));
    made = true;
  }
  TlsIdentity identity = TRY(check_pair(certificate_path, key_path));
  identity.made_now = made;
  if (!made && !names_host(identity.certificate.get(), listen_host))
    log::warn(
        "{} does not name {}, where the API now listens: clients that check names refuse it; "
        "remove {} to have havend make a new one",
        certificate_path, listen_host, directory);
  return identity;
}

}  // namespace haven::daemon
