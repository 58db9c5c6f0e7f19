#include "tls_verify.h"

#include "pathwatch/provider.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace pathwatch {

namespace {

constexpr std::uintmax_t kMaxRootFileBytes = 16u << 20;

// Adds every certificate of a PEM stream; returns how many.
std::size_t addPemCerts(X509_STORE* store, BIO* bio) {
  std::size_t n = 0;
  while (X509* raw = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509Ptr cert(raw);
    if (X509_STORE_add_cert(store, cert.get()) == 1) ++n;
  }
  ERR_clear_error();  // the loop ends on "no start line": not an error
  return n;
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

PublicRoots::PublicRoots() : store_(X509_STORE_new()) {}

PublicRoots::~PublicRoots() = default;

std::shared_ptr<const PublicRoots> PublicRoots::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::shared_ptr<PublicRoots> roots(new PublicRoots());
  roots->source_ = path;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    throw std::runtime_error("tls.public_roots: " + path + ": no such file or folder");
  }
  std::vector<fs::path> files;
  if (fs::is_directory(st)) {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code fec;
      if (fs::is_regular_file(it->path(), fec) && hasCertExtension(it->path())) {
        files.push_back(it->path());
      }
    }
    if (ec) throw std::runtime_error("tls.public_roots: " + path + ": " + ec.message());
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
    roots->count_ += addPemCerts(roots->store_.get(), bio.get());
  }
  if (roots->count_ == 0) {
    throw std::runtime_error("tls.public_roots: " + path + ": no PEM certificate found");
  }
  return roots;
}

std::shared_ptr<const PublicRoots> PublicRoots::fromPem(std::string_view pem, std::string source) {
  std::shared_ptr<PublicRoots> roots(new PublicRoots());
  roots->source_ = std::move(source);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio) roots->count_ = addPemCerts(roots->store_.get(), bio.get());
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
