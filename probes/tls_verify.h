#pragma once
// The public root set (tls.public_roots) and the check that tells an
// intercepted connection from an honest one: a chain the route's CA file
// accepts but the public roots do not was issued by a locally added CA.
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include "pathwatch/ssl_ptr.h"

namespace pathwatch {

// Certificates as the peer presented them, DER-encoded, leaf first.
using DerChain = std::vector<std::string>;

// The same chain as the handshake parsed it (references held), leaf first.
// Parsing a certificate again costs far more than the check itself under
// OpenSSL 3 (its key decoder), so the handshake's objects are reused.
struct PeerChain {
  DerChain der;
  std::vector<X509Ptr> certs;  // parallel to der
};

struct ChainCheck {
  bool ok = false;
  long code = 0;       // X509_V_ERR_*; 0 when ok
  std::string reason;  // OpenSSL's words, "" when ok
};

class PublicRoots {
 public:
  // Reads a PEM bundle, or every *.pem / *.crt / *.cer file in a folder.
  // Synchronous file I/O: call once at engine start or config reload and share
  // the result (FetchRequest::public_roots), never per probe.
  // Throws std::runtime_error naming the path when no certificate was found.
  // `key` is the config key its errors name (CaStore reads tls.ca_file so).
  static std::shared_ptr<const PublicRoots> load(const std::string& path,
                                                 std::string_view key = "tls.public_roots");
  // From PEM text already in memory (tests, embedded sets). Throws as load().
  static std::shared_ptr<const PublicRoots> fromPem(std::string_view pem,
                                                    std::string source = "<memory>");

  ~PublicRoots();
  PublicRoots(const PublicRoots&) = delete;
  PublicRoots& operator=(const PublicRoots&) = delete;

  // Does `chain` lead to one of these roots, valid now (or at `at`), for
  // `host` (a name or an IP literal; "" skips the name check)?
  ChainCheck verify(const DerChain& chain, std::string_view host,
                    std::optional<std::time_t> at = std::nullopt) const;
  // The same for a chain the handshake already parsed. A chain and host
  // checked before give the earlier answer while it cannot have changed:
  // the certificates are byte for byte the same, the time is still inside
  // every validity period the check depended on, and at most
  // kRememberSeconds later (bounded, per root set: a reload starts afresh).
  ChainCheck verifyPeer(const PeerChain& chain, std::string_view host,
                    std::optional<std::time_t> at = std::nullopt) const;

  static constexpr std::time_t kRememberSeconds = 300;
  static constexpr std::size_t kRememberMax = 512;
  std::size_t remembered() const;

  std::size_t size() const { return count_; }
  const std::string& source() const { return source_; }
  // Roots parsed so far. A bundle is indexed by subject when read and a root
  // is parsed only when a chain names it as an issuer: OpenSSL 3 decodes
  // every certificate's public key as it parses it, and the system bundle's
  // 140-odd roots cost 30 ms of CPU at every start (more than a probe).
  std::size_t parsed() const;

 private:
  struct Index;
  PublicRoots();
  std::size_t addPem(BIO* bio);  // indexes every certificate; returns how many
  ChainCheck check(X509* leaf, STACK_OF(X509) * untrusted, std::string_view host,
                   std::optional<std::time_t> at, std::time_t* valid_until) const;

  struct Remembered {
    ChainCheck result;
    std::time_t from = 0, until = 0;  // the answer holds for times in [from, until)
  };
  friend class CaStore;           // uses the store of its own instance
  std::unique_ptr<Index> index_;  // before store_: the store's lookup points into it
  X509StorePtr store_;
  mutable std::mutex memo_mutex_;
  mutable std::map<std::string, Remembered> memo_;  // key: host, then the chain's DER
  std::size_t count_ = 0;
  std::string source_;
};

// The CA file every connection verifies against (tls.ca_file), read once
// per engine and shared by the connections of every route. libcurl 7.88
// keeps its own parsed copy per multi handle, and the engine has one per
// route (a kept connection must stay on its route): each would parse the
// system bundle again (about 20 ms and 0.8 MiB each here). Read as the
// public roots are: indexed by subject, a certificate parsed the first time
// a chain names it, so a handshake pays for its own issuers only.
class CaStore {
 public:
  // The certificates of a PEM file (or of the *.pem / *.crt / *.cer files of
  // a folder), with the flags libcurl sets on its store (trusted first,
  // partial chains). A file that is not a regular one (a FIFO, a device) is
  // not read here. Synchronous file I/O: once per engine, never per probe.
  // Throws std::runtime_error naming the path when nothing can be loaded.
  static std::shared_ptr<const CaStore> load(const std::string& path);
  X509_STORE* store() const;
  const std::string& path() const { return path_; }
  std::size_t size() const { return roots_->size(); }
  std::size_t parsed() const { return roots_->parsed(); }

 private:
  CaStore() = default;
  std::shared_ptr<const PublicRoots> roots_;  // its store, with other flags, is the CA store
  std::string path_;
};

// What a person needs to see of one certificate.
struct CertSummary {
  std::string subject, issuer;  // RFC 2253: "CN=api.openai.com,O=OpenAI"
  std::string not_after;        // ISO 8601 UTC: "2027-01-31T23:59:59Z"
};
CertSummary summarizeCert(X509* cert);
std::string derOf(X509* cert);  // "" on failure

// OpenSSL verify code -> the tls layer's fixed error string:
// tls_unknown_authority, tls_expired, tls_not_yet_valid, tls_hostname_mismatch,
// tls_bad_certificate (anything else about the certificate).
std::string_view tlsErrorForVerifyCode(long code);

}  // namespace pathwatch
