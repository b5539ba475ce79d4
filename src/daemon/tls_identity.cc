#include "daemon/tls_identity.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <memory>
#include <vector>

#include "base/atomic_file.h"
#include "base/hex.h"
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

Result<std::string> read_pem(const std::string& path) {
  // Named in the error: which of the two files, and what is wrong with it.
  auto bytes = TRY(sys::read_file(path, kMaxPemBytes));
  return std::string(bytes.begin(), bytes.end());
}

Result<Certificate> parse_certificate(const std::string& pem, const std::string& path) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Certificate certificate(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!certificate)
    return make_error("TLS certificate {}: not a PEM certificate ({})", path, openssl_reason());
  return certificate;
}

Result<Key> parse_key(const std::string& pem, const std::string& path) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Key key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
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

// The key file must be havend's and no one else's: it is what makes a client trust havend.
Result<void> check_key_file(const std::string& path) {
  auto fd = TRY(sys::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st = TRY(sys::stat_fd(fd.get(), path));
  if (!S_ISREG(st.st_mode)) return make_error("TLS key {}: not a regular file", path);
  if (st.st_uid != ::geteuid())
    return make_error("TLS key {}: owned by uid {}, not by havend's user", path, st.st_uid);
  if (st.st_mode & 077)
    return make_error("TLS key {}: others may read it (mode {:04o}); chmod 600 it", path,
                      st.st_mode & 07777);
  return {};
}

Result<TlsIdentity> check_pair(const std::string& certificate_path, const std::string& key_path) {
  TRY(check_key_file(key_path));
  std::string certificate_pem = TRY(read_pem(certificate_path));
  std::string key_pem = TRY(read_pem(key_path));
  auto certificate = TRY(parse_certificate(certificate_pem, certificate_path));
  auto key = TRY(parse_key(key_pem, key_path));
  if (X509_check_private_key(certificate.get(), key.get()) != 1) {
    ERR_clear_error();
    return make_error("TLS key {} does not belong to the certificate {}", key_path,
                      certificate_path);
  }
  std::string fingerprint = TRY(fingerprint_of(certificate.get()));
  return TlsIdentity{certificate_path, key_path, fingerprint, false};
}

bool is_address(const std::string& host, int family) {
  unsigned char buffer[16];
  return ::inet_pton(family, host.c_str(), buffer) == 1;
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
  char hostname[256] = {};
  ::gethostname(hostname, sizeof(hostname) - 1);
  std::string common_name = std::string("havend on ") + (hostname[0] ? hostname : "localhost");
  X509_NAME* name = X509_get_subject_name(certificate.get());
  if (!number || X509_set_version(certificate.get(), 2) != 1 ||
      !BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(certificate.get())) ||
      !X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(certificate.get()), kValidSeconds) ||
      X509_set_pubkey(certificate.get(), key.get()) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1 ||
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

}  // namespace

Result<TlsIdentity> load_tls_identity(const std::string& certificate_path,
                                      const std::string& key_path) {
  return check_pair(certificate_path, key_path);
}

Result<TlsIdentity> self_signed_tls_identity(const std::string& directory,
                                             const std::string& listen_host) {
  std::string certificate_path = directory + "/cert.pem";
  std::string key_path = directory + "/key.pem";
  bool have_certificate = TRY(sys::exists(certificate_path));
  bool have_key = TRY(sys::exists(key_path));
  if (have_certificate && have_key) return check_pair(certificate_path, key_path);
  if (have_certificate || have_key)
    return make_error("{}: holds {} but not {}: remove it to have havend make a new pair",
                      directory, have_certificate ? "cert.pem" : "key.pem",
                      have_certificate ? "key.pem" : "cert.pem");
  TRY(sys::ensure_directory(directory, 0700));
  auto [certificate_pem, key_pem] = TRY(make_self_signed(listen_host));
  // The key first: a certificate on disk always has its key.
  TRY(write_file_atomic(key_path, bytes_of_text(key_pem), true, 0600));
  TRY(write_file_atomic(certificate_path, bytes_of_text(certificate_pem), true, 0644));
  TlsIdentity identity = TRY(check_pair(certificate_path, key_path));
  identity.made_now = true;
  return identity;
}

}  // namespace haven::daemon
