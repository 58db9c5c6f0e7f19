#include "tls_verify.h"

#include "pathwatch/provider.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <unordered_map>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace pathwatch {

namespace {

constexpr std::uintmax_t kMaxRootFileBytes = 16u << 20;

// One DER element: its tag, where it starts, where its contents start and end.
struct DerItem {
  unsigned char tag = 0;
  const unsigned char *start = nullptr, *body = nullptr, *end = nullptr;
};

// Reads the element at `p` (definite lengths up to 4 bytes, as DER has them).
std::optional<DerItem> readDer(const unsigned char* p, const unsigned char* limit) {
  DerItem it;
  it.start = p;
  if (limit - p < 2) return std::nullopt;
  it.tag = *p++;
  std::size_t len = *p++;
  if (len & 0x80) {
    const std::size_t n = len & 0x7f;
    if (n == 0 || n > 4 || static_cast<std::size_t>(limit - p) < n) return std::nullopt;
    len = 0;
    for (std::size_t i = 0; i < n; ++i) len = (len << 8) | *p++;
  }
  if (static_cast<std::size_t>(limit - p) < len) return std::nullopt;
  it.body = p;
  it.end = p + len;
  return it;
}

// The subject Name of a DER certificate, without parsing the rest of it:
// Certificate = SEQUENCE { tbsCertificate = SEQUENCE { [0] version OPTIONAL,
// serialNumber, signature, issuer, validity, subject, ... }, ... } (RFC 5280).
X509NamePtr subjectOfDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* limit = p + der.size();
  auto cert = readDer(p, limit);
  if (!cert || cert->tag != 0x30) return nullptr;
  auto tbs = readDer(cert->body, cert->end);
  if (!tbs || tbs->tag != 0x30) return nullptr;
  const unsigned char* q = tbs->body;
  auto field = readDer(q, tbs->end);
  if (field && field->tag == 0xa0) field = readDer(field->end, tbs->end);  // version
  for (int skip = 0; skip < 4 && field; ++skip) field = readDer(field->end, tbs->end);
  if (!field || field->tag != 0x30) return nullptr;
  const unsigned char* name = field->start;
  return X509NamePtr(d2i_X509_NAME(nullptr, &name, field->end - field->start));
}

unsigned long nameHash(const X509_NAME* name) {
  int ok = 0;
  const unsigned long h = X509_NAME_hash_ex(name, nullptr, nullptr, &ok);
  return ok ? h : 0;
}

bool hasCertExtension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".pem" || ext == ".crt" || ext == ".cer";
}

X509Ptr fromDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

std::string nameToString(const X509_NAME* name) {
  if (!name) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

std::string timeToIso(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace

// The bundle as read, by subject hash; a root is parsed and put in the store
// the first time verification asks the store for a certificate of that
// subject (an X509_LOOKUP, as OpenSSL's own hashed-folder lookup does).
struct PublicRoots::Index {
  std::vector<std::string> der;
  std::unordered_multimap<unsigned long, std::size_t> by_subject;
  std::mutex mu;
  std::vector<bool> parsed;  // under mu
  std::size_t parsed_count = 0;

  void add(std::string cert) {
    X509NamePtr subject = subjectOfDer(cert);
    if (!subject) return;
    by_subject.emplace(nameHash(subject.get()), der.size());
    der.push_back(std::move(cert));
    parsed.push_back(false);
  }

  // X509_LOOKUP get_by_subject: every root with this subject into the store,
  // one of them into `ret`.
  static int bySubject(X509_LOOKUP* lookup, X509_LOOKUP_TYPE type, const X509_NAME* name,
                       X509_OBJECT* ret) noexcept {
    auto* self = static_cast<Index*>(X509_LOOKUP_get_method_data(lookup));
    if (!self || type != X509_LU_X509 || !name) return 0;
    X509_STORE* store = X509_LOOKUP_get_store(lookup);
    int found = 0;
    std::lock_guard lk(self->mu);
    auto [from, to] = self->by_subject.equal_range(nameHash(name));
    for (auto it = from; it != to; ++it) {
      if (self->parsed[it->second]) continue;
      self->parsed[it->second] = true;
      ++self->parsed_count;
      X509Ptr cert = fromDer(self->der[it->second]);
      if (!cert || X509_NAME_cmp(X509_get_subject_name(cert.get()), name) != 0) continue;
      if (X509_STORE_add_cert(store, cert.get()) != 1) continue;
      // `ret` borrows the store's reference, as OpenSSL's own lookups fill
      // it: X509_STORE_CTX_get_by_subject takes its own reference after.
      if (!found && X509_OBJECT_set1_X509(ret, cert.get()) == 1) {
        X509_free(cert.get());
        found = 1;
      }
    }
    ERR_clear_error();
    return found;
  }

  static X509_LOOKUP_METHOD* method() {
    static X509_LOOKUP_METHOD* m = [] {
      X509_LOOKUP_METHOD* made = X509_LOOKUP_meth_new("pathwatch public roots");
      if (made) X509_LOOKUP_meth_set_get_by_subject(made, &Index::bySubject);
      return made;
    }();
    return m;
  }
};

PublicRoots::PublicRoots() : index_(std::make_unique<Index>()), store_(X509_STORE_new()) {
  X509_LOOKUP_METHOD* m = Index::method();
  X509_LOOKUP* lookup = store_ && m ? X509_STORE_add_lookup(store_.get(), m) : nullptr;
  if (!lookup || X509_LOOKUP_set_method_data(lookup, index_.get()) != 1)
    throw std::runtime_error("tls.public_roots: cannot set up the certificate store");
}

PublicRoots::~PublicRoots() = default;

std::size_t PublicRoots::parsed() const {
  std::lock_guard lk(index_->mu);
  return index_->parsed_count;
}

// Every certificate of a PEM stream goes into the index (not parsed yet).
std::size_t PublicRoots::addPem(BIO* bio) {
  std::size_t n = 0;
  for (;;) {
    char *name = nullptr, *header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) break;
    const std::string type = name ? name : "";
    if ((type == "CERTIFICATE" || type == "X509 CERTIFICATE") && len > 0) {
      const std::size_t before = index_->der.size();
      index_->add(std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len)));
      n += index_->der.size() - before;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  ERR_clear_error();  // the loop ends on "no start line": not an error
  return n;
}

std::shared_ptr<const CaStore> CaStore::load(const std::string& path) {
  std::shared_ptr<CaStore> ca(new CaStore());
  ca->path_ = path;
  ca->roots_ = PublicRoots::load(path, "tls.ca_file");
  X509_STORE_set_flags(ca->store(), X509_V_FLAG_TRUSTED_FIRST | X509_V_FLAG_PARTIAL_CHAIN);
  return ca;
}

X509_STORE* CaStore::store() const { return roots_->store_.get(); }

std::shared_ptr<const PublicRoots> PublicRoots::load(const std::string& path, std::string_view key) {
  namespace fs = std::filesystem;
  std::shared_ptr<PublicRoots> roots(new PublicRoots());
  roots->source_ = path;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    throw std::runtime_error(std::string(key) + ": " + path + ": no such file or folder");
  }
  std::vector<fs::path> files;
  if (fs::is_directory(st)) {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code fec;
      if (fs::is_regular_file(it->path(), fec) && hasCertExtension(it->path())) {
        files.push_back(it->path());
      }
    }
    if (ec) throw std::runtime_error(std::string(key) + ": " + path + ": " + ec.message());
    std::sort(files.begin(), files.end());
  } else {
    files.emplace_back(path);
  }
  for (const fs::path& f : files) {
    std::error_code sec;
    if (fs::file_size(f, sec) > kMaxRootFileBytes || sec) continue;
    BioPtr bio(BIO_new_file(f.c_str(), "r"));
    if (!bio) {
      ERR_clear_error();
      continue;
    }
    roots->count_ += roots->addPem(bio.get());
  }
  if (roots->count_ == 0) {
    throw std::runtime_error(std::string(key) + ": " + path + ": no PEM certificate found");
  }
  return roots;
}

std::shared_ptr<const PublicRoots> PublicRoots::fromPem(std::string_view pem, std::string source) {
  std::shared_ptr<PublicRoots> roots(new PublicRoots());
  roots->source_ = std::move(source);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio) roots->count_ = roots->addPem(bio.get());
  if (roots->count_ == 0) {
    throw std::runtime_error("tls.public_roots: " + roots->source_ + ": no PEM certificate found");
  }
  return roots;
}

ChainCheck PublicRoots::verify(const DerChain& chain, std::string_view host,
                               std::optional<std::time_t> at) const {
  ChainCheck out;
  if (chain.empty()) {
    out.code = X509_V_ERR_UNSPECIFIED;
    out.reason = "no certificate was presented";
    return out;
  }
  X509Ptr leaf = fromDer(chain[0]);
  if (!leaf) {
    out.code = X509_V_ERR_UNSPECIFIED;
    out.reason = "the leaf certificate does not parse";
    ERR_clear_error();
    return out;
  }
  X509StackPtr untrusted(sk_X509_new_null());
  if (!untrusted) {
    out.code = X509_V_ERR_UNSPECIFIED;
    out.reason = "out of memory";
    return out;
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    X509Ptr c = fromDer(chain[i]);
    if (c && sk_X509_push(untrusted.get(), c.get()) > 0) c.release();  // the stack owns it now
  }
  return check(leaf.get(), untrusted.get(), host, at, nullptr);
}

ChainCheck PublicRoots::verifyPeer(const PeerChain& chain, std::string_view host,
                               std::optional<std::time_t> at) const {
  const bool parsed = !chain.certs.empty() && chain.certs.size() == chain.der.size() &&
                      std::all_of(chain.certs.begin(), chain.certs.end(), [](auto& c) { return c != nullptr; });
  if (!parsed) return verify(chain.der, host, at);
  const std::time_t now = at ? *at : std::time(nullptr);
  // The key: a digest of the host and every certificate as presented.
  std::string key;
  {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1 &&
              EVP_DigestUpdate(md, host.data(), host.size()) == 1;
    for (const std::string& d : chain.der) {
      const uint64_t len = d.size();
      ok = ok && EVP_DigestUpdate(md, &len, sizeof len) == 1 &&
           EVP_DigestUpdate(md, d.data(), d.size()) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(md, digest, &n) == 1;
    EVP_MD_CTX_free(md);
    if (ok) key.assign(reinterpret_cast<const char*>(digest), n);
    ERR_clear_error();
  }
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(memo_mutex_);
    auto it = memo_.find(key);
    if (it != memo_.end() && now >= it->second.from && now < it->second.until) return it->second.result;
  }
  X509StackPtr untrusted(sk_X509_new_null());
  if (!untrusted) {
    ChainCheck out;
    out.code = X509_V_ERR_UNSPECIFIED;
    out.reason = "out of memory";
    return out;
  }
  for (std::size_t i = 1; i < chain.certs.size(); ++i) {
    if (X509_up_ref(chain.certs[i].get()) != 1) continue;
    if (sk_X509_push(untrusted.get(), chain.certs[i].get()) <= 0) X509_free(chain.certs[i].get());
  }
  std::time_t until = now + kRememberSeconds;
  ChainCheck out = check(chain.certs[0].get(), untrusted.get(), host, now, &until);
  if (!key.empty() && until > now) {
    std::lock_guard<std::mutex> lock(memo_mutex_);
    if (memo_.size() >= kRememberMax) {
      std::erase_if(memo_, [now](const auto& e) { return now >= e.second.until || now < e.second.from; });
      if (memo_.size() >= kRememberMax) memo_.clear();
    }
    memo_[key] = Remembered{out, now, until};
  }
  return out;
}

std::size_t PublicRoots::remembered() const {
  std::lock_guard<std::mutex> lock(memo_mutex_);
  return memo_.size();
}

namespace {

std::optional<std::time_t> toTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return timegm(&tm);
}

// Moves `until` back to the first moment after `now` at which `cert`
// changes validity (it expires, or it becomes valid).
void boundByValidity(X509* cert, std::time_t now, std::time_t* until) {
  auto nb = toTime(X509_get0_notBefore(cert));
  auto na = toTime(X509_get0_notAfter(cert));
  if (!nb || !na) {
    *until = now;  // unknown: never remembered
    return;
  }
  if (*nb > now) *until = std::min(*until, *nb);
  if (*na >= now) *until = std::min(*until, *na);
}

void boundByValidity(STACK_OF(X509) * certs, std::time_t now, std::time_t* until) {
  for (int i = 0; certs && i < sk_X509_num(certs); ++i) boundByValidity(sk_X509_value(certs, i), now, until);
}

}  // namespace

ChainCheck PublicRoots::check(X509* leaf, STACK_OF(X509) * untrusted, std::string_view host,
                              std::optional<std::time_t> at, std::time_t* valid_until) const {
  ChainCheck out;
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx && X509_STORE_CTX_init(ctx.get(), store_.get(), leaf, untrusted) == 1) {
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (at) X509_VERIFY_PARAM_set_time(param, *at);
    std::string h(host);
    if (!h.empty()) {
      if (isIpLiteral(h)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str());
      } else {
        X509_VERIFY_PARAM_set1_host(param, h.c_str(), h.size());
      }
    }
    out.ok = X509_verify_cert(ctx.get()) == 1;
    if (!out.ok) {
      out.code = X509_STORE_CTX_get_error(ctx.get());
      out.reason = X509_verify_cert_error_string(out.code);
    }
    if (valid_until && at) {
      // What the answer depended on: the chain built (leaf first, with its
      // root when one was found) and every other certificate presented.
      boundByValidity(X509_STORE_CTX_get0_chain(ctx.get()), *at, valid_until);
      boundByValidity(untrusted, *at, valid_until);
    }
  } else {
    out.code = X509_V_ERR_UNSPECIFIED;
    out.reason = "could not set up verification";
    if (valid_until && at) *valid_until = *at;
  }
  ERR_clear_error();
  return out;
}

CertSummary summarizeCert(X509* cert) {
  CertSummary s;
  if (!cert) return s;
  s.subject = nameToString(X509_get_subject_name(cert));
  s.issuer = nameToString(X509_get_issuer_name(cert));
  s.not_after = timeToIso(X509_get0_notAfter(cert));
  return s;
}

std::string derOf(X509* cert) {
  if (!cert) return {};
  int len = i2d_X509(cert, nullptr);
  if (len <= 0) return {};
  std::string out(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (i2d_X509(cert, &p) != len) return {};
  return out;
}

std::string_view tlsErrorForVerifyCode(long code) {
  switch (code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
      return "tls_unknown_authority";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "tls_expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "tls_not_yet_valid";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "tls_hostname_mismatch";
    default:
      return "tls_bad_certificate";
  }
}

}  // namespace pathwatch
