#include "test_pki.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pathwatch/ssl_ptr.h"

namespace pathwatch::fetchtest {

namespace {

using KeyPtr = EvpPkeyPtr;
using CertPtr = X509Ptr;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test pki: ") + what);
}

KeyPtr newKey() {
  KeyPtr k(EVP_EC_gen("P-256"));
  check(k != nullptr, "EVP_EC_gen");
  return k;
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

struct Issued {
  CertPtr cert;
  KeyPtr key;
};

// issuer == nullptr: self-signed root.
Issued makeCert(const std::string& cn, const Issued* issuer, bool ca, const char* san,
                long not_before_days, long not_after_days) {
  Issued out;
  out.key = newKey();
  out.cert.reset(X509_new());
  X509* c = out.cert.get();
  X509_set_version(c, 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BignumPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  check(bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c)) != nullptr, "serial");
  X509NamePtr name(X509_NAME_new());
  check(name != nullptr, "X509_NAME_new");
  X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Pathwatch Tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_subject_name(c, name.get());
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer->cert.get()) : name.get());
  X509_gmtime_adj(X509_getm_notBefore(c), not_before_days * 86400L);
  X509_gmtime_adj(X509_getm_notAfter(c), not_after_days * 86400L);
  X509_set_pubkey(c, out.key.get());
  X509* issuer_cert = issuer ? issuer->cert.get() : c;
  addExt(c, issuer_cert, NID_subject_key_identifier, "hash");
  addExt(c, issuer_cert, NID_authority_key_identifier, "keyid:always");
  if (ca) {
    addExt(c, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    addExt(c, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExt(c, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    addExt(c, issuer_cert, NID_key_usage, "critical,digitalSignature");
    addExt(c, issuer_cert, NID_ext_key_usage, "serverAuth");
    addExt(c, issuer_cert, NID_subject_alt_name, san);
  }
  check(X509_sign(c, issuer ? issuer->key.get() : out.key.get(), EVP_sha256()) > 0, "X509_sign");
  return out;
}

std::string memText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string certPem(X509* c) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), c) == 1, "PEM_write_bio_X509");
  return memText(bio.get());
}

std::string keyPem(EVP_PKEY* k) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return memText(bio.get());
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  check(f.good(), "write file");
}

TestLeaf leafOf(const Issued& leaf, const Issued* intermediate) {
  TestLeaf t;
  t.cert_chain_pem = certPem(leaf.cert.get());
  if (intermediate) t.cert_chain_pem += certPem(intermediate->cert.get());
  t.key_pem = keyPem(leaf.key.get());
  return t;
}

struct PkiHolder {
  TestPki pki;
  PkiHolder() {
    char tmpl[] = "/tmp/pathwatch-fetch-pki-XXXXXX";
    check(mkdtemp(tmpl) != nullptr, "mkdtemp");
    pki.dir = tmpl;

    const std::string good_san = std::string("DNS:") + kTestHost + ",IP:127.0.0.1";
    Issued public_root = makeCert("Pathwatch Test Public Root", nullptr, true, nullptr, -1, 3650);
    Issued public_int = makeCert("Pathwatch Test Public Issuing CA", &public_root, true, nullptr, -1, 3650);
    Issued corporate_root = makeCert("Pathwatch Test Corporate Inspection CA", nullptr, true, nullptr, -1, 3650);
    Issued unknown_root = makeCert("Pathwatch Test Unknown Root", nullptr, true, nullptr, -1, 3650);

    Issued good = makeCert(kTestHost, &public_int, false, good_san.c_str(), -1, 365);
    Issued expired = makeCert(kTestHost, &public_int, false, good_san.c_str(), -30, -1);
    Issued not_yet = makeCert(kTestHost, &public_int, false, good_san.c_str(), 365, 730);
    Issued wrong = makeCert("other.pathwatch.test", &public_int, false, "DNS:other.pathwatch.test", -1, 365);
    Issued unknown = makeCert(kTestHost, &unknown_root, false, good_san.c_str(), -1, 365);
    Issued corporate = makeCert(kTestHost, &corporate_root, false, good_san.c_str(), -1, 365);

    pki.public_root_pem = certPem(public_root.cert.get());
    pki.corporate_root_pem = certPem(corporate_root.cert.get());
    pki.good = leafOf(good, &public_int);
    pki.expired = leafOf(expired, &public_int);
    pki.not_yet = leafOf(not_yet, &public_int);
    pki.wrong_name = leafOf(wrong, &public_int);
    pki.unknown_ca = leafOf(unknown, nullptr);
    pki.corporate = leafOf(corporate, nullptr);

    pki.public_roots_file = pki.dir + "/public_roots.pem";
    writeFile(pki.public_roots_file, pki.public_root_pem);
    pki.public_roots_dir = pki.dir + "/public_roots.d";
    std::filesystem::create_directory(pki.public_roots_dir);
    writeFile(pki.public_roots_dir + "/Pathwatch_Test_Public_Root.crt", pki.public_root_pem);
    writeFile(pki.public_roots_dir + "/README", "not a certificate\n");
    pki.ca_file = pki.dir + "/ca_file.pem";
    writeFile(pki.ca_file, pki.public_root_pem + pki.corporate_root_pem);
  }
  ~PkiHolder() {
    std::error_code ec;
    std::filesystem::remove_all(pki.dir, ec);
  }
};

}  // namespace

const TestPki& TestPki::get() {
  static PkiHolder holder;
  return holder.pki;
}

}  // namespace pathwatch::fetchtest
