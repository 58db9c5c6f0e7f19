// PublicRoots: loading the public root set and telling a chain that leads to
// it from one that does not. Fixed certificates (generated once with the
// openssl command, valid 2026-11-27 .. 2036-11-24 for the leaf), checked at
// fixed times so the result never depends on the clock.
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "tls_verify.h"

namespace pathwatch {
namespace {

constexpr const char* kRootPem = R"PEM(-----BEGIN CERTIFICATE-----
MIIBvjCCAWSgAwIBAgIBATAKBggqhkjOPQQDAjA1MRgwFgYDVQQKDA9QYXRod2F0
Y2ggVGVzdHMxGTAXBgNVBAMMEFVuaXQgUHVibGljIFJvb3QwIBcNMjYxMTI3MjIw
NDQ0WhgPMjEyNjExMDMyMjA0NDRaMDUxGDAWBgNVBAoMD1BhdGh3YXRjaCBUZXN0
czEZMBcGA1UEAwwQVW5pdCBQdWJsaWMgUm9vdDBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABD82sEWhs4FEUywQYBdfYFqKmGzZBcE1FfDxUtzSBMKM8Of8Fsw26D9i
MFvTJNz20cab5CfwReBA8gsoWbRLsy2jYzBhMB0GA1UdDgQWBBQiA3qSn98prQfu
65IEl4kf8uEUCDAfBgNVHSMEGDAWgBQiA3qSn98prQfu65IEl4kf8uEUCDAPBgNV
HRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAgNIADBFAiEA
5mXAVFmcZSTeNCjW9fx53R8MTzR/UOkCv2twshUPU/8CIHXaW0ey3zfgIHdbr1ET
opvG1yxQr7kIijYryqRJhRRI
-----END CERTIFICATE-----
)PEM";

constexpr const char* kIntermediatePem = R"PEM(-----BEGIN CERTIFICATE-----
MIIBvjCCAWOgAwIBAgIBAzAKBggqhkjOPQQDAjA1MRgwFgYDVQQKDA9QYXRod2F0
Y2ggVGVzdHMxGTAXBgNVBAMMEFVuaXQgUHVibGljIFJvb3QwIBcNMjYxMTI3MjIw
NDQ0WhgPMjEyNTA2MjEyMjA0NDRaMDQxGDAWBgNVBAoMD1BhdGh3YXRjaCBUZXN0
czEYMBYGA1UEAwwPVW5pdCBJc3N1aW5nIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEytXljgM+z8gmoz+pf3Wc0HXHHg+X3l9DpgCJXKpVbW7R5C8ZNGbExlVr
wJa3R/e4h0j7auL6Ti42pKWvYLoXVaNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwHQYDVR0OBBYEFIxfaVRu7tgPCEe1V3owqgoo2NRNMB8GA1Ud
IwQYMBaAFCIDepKf3ymtB+7rkgSXiR/y4RQIMAoGCCqGSM49BAMCA0kAMEYCIQCa
6qFwfRs3LlwJ2N1HzOEqpKzidby+XYpq/vFJCXH1BwIhAPmUyHEA0YKJx56xCohq
rIkKJIOHESOTg/Uu0+NIeQoT
-----END CERTIFICATE-----
)PEM";

constexpr const char* kLeafPem = R"PEM(-----BEGIN CERTIFICATE-----
MIIB9TCCAZygAwIBAgIBBDAKBggqhkjOPQQDAjA0MRgwFgYDVQQKDA9QYXRod2F0
Y2ggVGVzdHMxGDAWBgNVBAMMD1VuaXQgSXNzdWluZyBDQTAeFw0yNjExMjcyMjA0
NDRaFw0zNjExMjQyMjA0NDRaMDcxGDAWBgNVBAoMD1BhdGh3YXRjaCBUZXN0czEb
MBkGA1UEAwwSYXBpLnBhdGh3YXRjaC50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAE7PDjUyOmId4r2TvLWzuSk/2W84mXJ9t0db/NkBEkm/HI0ftBslrKdDRf
KNSHX8ZMSAw6ZJMfX8hPkSM8lIrqEqOBmzCBmDAMBgNVHRMBAf8EAjAAMA4GA1Ud
DwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAjBgNVHREEHDAaghJhcGku
cGF0aHdhdGNoLnRlc3SHBH8AAAEwHQYDVR0OBBYEFIV/W82oBCBqeeCcNQTaMU1n
qUbiMB8GA1UdIwQYMBaAFIxfaVRu7tgPCEe1V3owqgoo2NRNMAoGCCqGSM49BAMC
A0cAMEQCIHADf1E9oog0UnU5X9pb0WAwGq7oMdXOH7h7hoA0IvkCAiA1di0zCu+b
QRWalXgdDJz7p09jowTLoXorAxpDeFEKtA==
-----END CERTIFICATE-----
)PEM";

constexpr const char* kCorporatePem = R"PEM(-----BEGIN CERTIFICATE-----
MIIBwDCCAWagAwIBAgIBAjAKBggqhkjOPQQDAjA2MRgwFgYDVQQKDA9QYXRod2F0
Y2ggVGVzdHMxGjAYBgNVBAMMEVVuaXQgQ29ycG9yYXRlIENBMCAXDTI2MTEyNzIy
MDQ0NFoYDzIxMjYxMTAzMjIwNDQ0WjA2MRgwFgYDVQQKDA9QYXRod2F0Y2ggVGVz
dHMxGjAYBgNVBAMMEVVuaXQgQ29ycG9yYXRlIENBMFkwEwYHKoZIzj0CAQYIKoZI
zj0DAQcDQgAEH00RGI4ziAvXmNVn2J3//C2JEj6LwJD9wl+xWCQoapJRRjBIlK7A
N4jJWrQ8p9+CksS4lV5gsqCB12q0l/PXz6NjMGEwHQYDVR0OBBYEFL6fUnd6vJC8
auyZFWKOAp4ahgtDMB8GA1UdIwQYMBaAFL6fUnd6vJC8auyZFWKOAp4ahgtDMA8G
A1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMCA0gAMEUC
IQCJ+uqcqHVrmx20qjwPWu+m13vavpxV5qWBdQzpzIJjMwIgbIALsmKj6fQrPa+j
Qk/X5t/EPNE2/eEEJl9raxWWpqc=
-----END CERTIFICATE-----
)PEM";

constexpr const char* kCorporateLeafPem = R"PEM(-----BEGIN CERTIFICATE-----
MIIB+DCCAZ6gAwIBAgIBBTAKBggqhkjOPQQDAjA2MRgwFgYDVQQKDA9QYXRod2F0
Y2ggVGVzdHMxGjAYBgNVBAMMEVVuaXQgQ29ycG9yYXRlIENBMB4XDTI2MTEyNzIy
MDQ0NVoXDTM2MTEyNDIyMDQ0NVowNzEYMBYGA1UECgwPUGF0aHdhdGNoIFRlc3Rz
MRswGQYDVQQDDBJhcGkucGF0aHdhdGNoLnRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARZmLpRW2KXSCEF9m1JoBNfa3DobL7s4dQHtEWdbYJA7cI0a0WKdwe/
Urw2UejOsnPWMY8xGgvvw4iz069FGtMAo4GbMIGYMAwGA1UdEwEB/wQCMAAwDgYD
VR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMCMGA1UdEQQcMBqCEmFw
aS5wYXRod2F0Y2gudGVzdIcEfwAAATAdBgNVHQ4EFgQUv1G6Y8Lb33iOmbQZIZII
/9SZlEswHwYDVR0jBBgwFoAUvp9Sd3q8kLxq7JkVYo4CnhqGC0MwCgYIKoZIzj0E
AwIDSAAwRQIgah6T/xSQr4VwXi6C/x4PlbhVMEtYpebEzXK9qgVVgxACIQDIajaM
yEdq938dXC2AckrFxsY4h2Fpzf+kcx2eY1BCSg==
-----END CERTIFICATE-----
)PEM";

std::time_t utc(int y, int mo, int d) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  return timegm(&tm);
}

const std::time_t kValid = utc(2030, 1, 1);

std::string der(const char* pem) {
  BIO* bio = BIO_new_mem_buf(pem, -1);
  X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  std::string out = derOf(c);
  X509_free(c);
  return out;
}

std::shared_ptr<const PublicRoots> publicRoots() { return PublicRoots::fromPem(kRootPem, "unit"); }

X509Ptr parse(const char* pem) {
  BioPtr bio(BIO_new_mem_buf(pem, -1));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

PeerChain peerChain(const std::vector<const char*>& pems) {
  PeerChain out;
  for (const char* pem : pems) {
    out.der.push_back(der(pem));
    out.certs.push_back(parse(pem));
  }
  return out;
}

std::time_t notAfter(const char* pem) {
  X509Ptr c = parse(pem);
  struct tm tm {};
  ASN1_TIME_to_tm(X509_get0_notAfter(c.get()), &tm);
  return timegm(&tm);
}

TEST(PublicRoots, LoadsPemFromMemoryAndCounts) {
  auto both = PublicRoots::fromPem(std::string(kRootPem) + kCorporatePem);
  EXPECT_EQ(both->size(), 2u);
  EXPECT_EQ(publicRoots()->size(), 1u);
  EXPECT_EQ(publicRoots()->source(), "unit");
}

// A bundle is indexed by subject when read; a root is parsed only when a
// chain names it as its issuer, and the answers are the same as before.
TEST(PublicRoots, ParsesOnlyTheRootsAChainNames) {
  auto roots = PublicRoots::fromPem(std::string(kCorporatePem) + kRootPem + kCorporatePem);
  EXPECT_EQ(roots->size(), 3u);
  EXPECT_EQ(roots->parsed(), 0u);
  ChainCheck r = roots->verify({der(kLeafPem), der(kIntermediatePem)}, "api.pathwatch.test", kValid);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(roots->parsed(), 1u) << "only the root the intermediate names";
  r = roots->verify({der(kLeafPem), der(kIntermediatePem)}, "api.pathwatch.test", kValid);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(roots->parsed(), 1u) << "a root is parsed once";
  r = roots->verify({der(kCorporateLeafPem)}, "api.pathwatch.test", kValid);
  EXPECT_TRUE(r.ok) << "the corporate CA is in this set: " << r.reason;
  EXPECT_EQ(roots->parsed(), 3u) << "both copies of the corporate CA";
}

TEST(PublicRoots, SystemBundleIsIndexedNotParsed) {
  const char* bundle = "/etc/ssl/certs/ca-certificates.crt";
  if (!std::filesystem::exists(bundle)) GTEST_SKIP() << "no system bundle";
  auto roots = PublicRoots::load(bundle);
  EXPECT_GT(roots->size(), 50u);
  EXPECT_EQ(roots->parsed(), 0u);
  ChainCheck r = roots->verify({der(kLeafPem), der(kIntermediatePem)}, "api.pathwatch.test", kValid);
  EXPECT_FALSE(r.ok) << "the test CA is no public root";
  EXPECT_EQ(r.code, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_LE(roots->parsed(), 2u);
}

TEST(PublicRoots, RejectsTextWithoutCertificates) {
  EXPECT_THROW(PublicRoots::fromPem("not a certificate"), std::runtime_error);
  EXPECT_THROW(PublicRoots::fromPem(""), std::runtime_error);
}

TEST(PublicRoots, MissingPathNamesThePath) {
  try {
    PublicRoots::load("/nonexistent/pathwatch/roots.pem");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/pathwatch/roots.pem"), std::string::npos);
  }
}

class PublicRootsFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pathwatch-roots-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

TEST_F(PublicRootsFolder, ReadsCrtAndPemFilesAndSkipsTheRest) {
  write("a.crt", kRootPem);
  write("b.pem", kCorporatePem);
  write("c.txt", kIntermediatePem);  // not a certificate file name: ignored
  write("README", "hello");
  auto roots = PublicRoots::load(dir_);
  EXPECT_EQ(roots->size(), 2u);
}

TEST_F(PublicRootsFolder, EmptyFolderIsAnError) {
  write("README", "hello");
  EXPECT_THROW(PublicRoots::load(dir_), std::runtime_error);
}

TEST_F(PublicRootsFolder, ReadsABundleFile) {
  write("bundle.pem", std::string(kRootPem) + kCorporatePem);
  EXPECT_EQ(PublicRoots::load(dir_ + "/bundle.pem")->size(), 2u);
}

struct VerifyCase {
  const char* name;
  std::vector<const char*> chain;
  const char* host;
  std::time_t at;
  bool ok;
  long code;
};
void PrintTo(const VerifyCase& c, std::ostream* os) { *os << c.name; }

class PublicRootsVerify : public ::testing::TestWithParam<VerifyCase> {};

TEST_P(PublicRootsVerify, Verifies) {
  const VerifyCase& c = GetParam();
  DerChain chain;
  for (const char* pem : c.chain) chain.push_back(der(pem));
  ChainCheck r = publicRoots()->verify(chain, c.host, c.at);
  EXPECT_EQ(r.ok, c.ok) << r.reason;
  EXPECT_EQ(r.code, c.code) << r.reason;
  EXPECT_EQ(r.reason.empty(), c.ok);
}

// The handshake's parsed certificates give the same answer as the DER.
TEST_P(PublicRootsVerify, ParsedChainGivesTheSameAnswer) {
  const VerifyCase& c = GetParam();
  ChainCheck r = publicRoots()->verifyPeer(peerChain(c.chain), c.host, c.at);
  EXPECT_EQ(r.ok, c.ok) << r.reason;
  EXPECT_EQ(r.code, c.code) << r.reason;
  EXPECT_EQ(r.reason.empty(), c.ok);
}

INSTANTIATE_TEST_SUITE_P(
    Chains, PublicRootsVerify,
    ::testing::Values(
        VerifyCase{"public_chain", {kLeafPem, kIntermediatePem}, "api.pathwatch.test", kValid, true, 0},
        VerifyCase{"public_chain_by_ip", {kLeafPem, kIntermediatePem}, "127.0.0.1", kValid, true, 0},
        VerifyCase{"no_host_check", {kLeafPem, kIntermediatePem}, "", kValid, true, 0},
        VerifyCase{"intermediate_missing", {kLeafPem}, "api.pathwatch.test", kValid, false,
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
        VerifyCase{"corporate_ca", {kCorporateLeafPem}, "api.pathwatch.test", kValid, false,
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
        VerifyCase{"wrong_name", {kLeafPem, kIntermediatePem}, "api.openai.com", kValid, false,
                   X509_V_ERR_HOSTNAME_MISMATCH},
        VerifyCase{"wrong_ip", {kLeafPem, kIntermediatePem}, "127.0.0.2", kValid, false,
                   X509_V_ERR_IP_ADDRESS_MISMATCH},
        VerifyCase{"expired", {kLeafPem, kIntermediatePem}, "api.pathwatch.test", utc(2040, 1, 1), false,
                   X509_V_ERR_CERT_HAS_EXPIRED},
        VerifyCase{"not_yet_valid", {kLeafPem, kIntermediatePem}, "api.pathwatch.test", utc(2020, 1, 1),
                   false, X509_V_ERR_CERT_NOT_YET_VALID}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST(PublicRoots, EmptyOrGarbageChainIsNotVerified) {
  auto roots = publicRoots();
  EXPECT_FALSE(roots->verify({}, "api.pathwatch.test", kValid).ok);
  ChainCheck garbage = roots->verify({std::string("\x30\x03garbage")}, "api.pathwatch.test", kValid);
  EXPECT_FALSE(garbage.ok);
  EXPECT_FALSE(garbage.reason.empty());
}

TEST(CertSummary, ShowsSubjectIssuerAndIsoExpiry) {
  BIO* bio = BIO_new_mem_buf(kLeafPem, -1);
  X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  CertSummary s = summarizeCert(c);
  X509_free(c);
  EXPECT_EQ(s.subject, "CN=api.pathwatch.test,O=Pathwatch Tests");
  EXPECT_EQ(s.issuer, "CN=Unit Issuing CA,O=Pathwatch Tests");
  EXPECT_EQ(s.not_after, "2036-11-24T22:04:44Z");
  EXPECT_EQ(summarizeCert(nullptr).subject, "");
}

struct CodeCase {
  long code;
  const char* error;
};

TEST(TlsErrorForVerifyCode, MapsToFixedStrings) {
  const CodeCase cases[] = {
      {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "tls_unknown_authority"},
      {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "tls_unknown_authority"},
      {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "tls_unknown_authority"},
      {X509_V_ERR_CERT_HAS_EXPIRED, "tls_expired"},
      {X509_V_ERR_CERT_NOT_YET_VALID, "tls_not_yet_valid"},
      {X509_V_ERR_HOSTNAME_MISMATCH, "tls_hostname_mismatch"},
      {X509_V_ERR_IP_ADDRESS_MISMATCH, "tls_hostname_mismatch"},
      {X509_V_ERR_CERT_SIGNATURE_FAILURE, "tls_bad_certificate"},
      {X509_V_ERR_INVALID_CA, "tls_bad_certificate"},
  };
  for (const auto& c : cases) EXPECT_EQ(tlsErrorForVerifyCode(c.code), c.error) << c.code;
}

}  // namespace
}  // namespace pathwatch

namespace pathwatch {
namespace {

// A chain checked once is remembered, but never past a moment at which the
// answer could change, nor for a time before it was checked.
TEST(PublicRootsMemo, RemembersAnAnswerOnlyWhileItHolds) {
  auto roots = publicRoots();
  const PeerChain chain = peerChain({kLeafPem, kIntermediatePem});
  const std::time_t expiry = notAfter(kLeafPem);
  ASSERT_GT(expiry, kValid);

  EXPECT_TRUE(roots->verifyPeer(chain, "api.pathwatch.test", expiry - 100).ok);
  EXPECT_EQ(roots->remembered(), 1u);
  EXPECT_TRUE(roots->verifyPeer(chain, "api.pathwatch.test", expiry - 50).ok);
  EXPECT_EQ(roots->remembered(), 1u);  // the same entry answered
  // Within kRememberSeconds of the first check, but the leaf has expired.
  ChainCheck after = roots->verifyPeer(chain, "api.pathwatch.test", expiry + 1);
  EXPECT_FALSE(after.ok);
  EXPECT_EQ(after.code, X509_V_ERR_CERT_HAS_EXPIRED);
  // Earlier than any remembered check: computed afresh.
  ChainCheck before = roots->verifyPeer(chain, "api.pathwatch.test", utc(2020, 1, 1));
  EXPECT_FALSE(before.ok);
  EXPECT_EQ(before.code, X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST(PublicRootsMemo, KeyedByHostAndEveryCertificate) {
  auto roots = publicRoots();
  const PeerChain chain = peerChain({kLeafPem, kIntermediatePem});
  EXPECT_TRUE(roots->verifyPeer(chain, "api.pathwatch.test", kValid).ok);
  ChainCheck other_host = roots->verifyPeer(chain, "api.openai.com", kValid + 1);
  EXPECT_FALSE(other_host.ok);
  EXPECT_EQ(other_host.code, X509_V_ERR_HOSTNAME_MISMATCH);
  ChainCheck leaf_only = roots->verifyPeer(peerChain({kLeafPem}), "api.pathwatch.test", kValid + 2);
  EXPECT_FALSE(leaf_only.ok);
  EXPECT_EQ(leaf_only.code, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  ChainCheck corporate = roots->verifyPeer(peerChain({kCorporateLeafPem}), "api.pathwatch.test", kValid + 3);
  EXPECT_FALSE(corporate.ok);
  EXPECT_EQ(roots->remembered(), 4u);
  // A failure is remembered like a success: the same answer again.
  EXPECT_EQ(roots->verifyPeer(peerChain({kCorporateLeafPem}), "api.pathwatch.test", kValid + 4).code,
            corporate.code);
  EXPECT_EQ(roots->remembered(), 4u);
}

TEST(PublicRootsMemo, StaysBoundedAndForgetsAfterItsWindow) {
  auto roots = publicRoots();
  const PeerChain chain = peerChain({kLeafPem, kIntermediatePem});
  for (std::size_t i = 0; i < PublicRoots::kRememberMax + 10; ++i)
    roots->verifyPeer(chain, "h" + std::to_string(i) + ".pathwatch.test", kValid);
  EXPECT_LE(roots->remembered(), PublicRoots::kRememberMax);
  EXPECT_GT(roots->remembered(), 0u);
  // Past the window the entries are stale: the next insert drops them.
  for (std::size_t i = 0; i < PublicRoots::kRememberMax; ++i)
    roots->verifyPeer(chain, "x" + std::to_string(i) + ".pathwatch.test",
                      kValid + PublicRoots::kRememberSeconds);
  EXPECT_LE(roots->remembered(), PublicRoots::kRememberMax);
}

// Without parsed certificates (or with a hole) the DER is checked as before.
TEST(PublicRootsMemo, FallsBackToTheDerWhenNotParsed) {
  auto roots = publicRoots();
  PeerChain chain = peerChain({kLeafPem, kIntermediatePem});
  chain.certs[1].reset();
  EXPECT_TRUE(roots->verifyPeer(chain, "api.pathwatch.test", kValid).ok);
  chain.certs.clear();
  EXPECT_TRUE(roots->verifyPeer(chain, "api.pathwatch.test", kValid).ok);
  EXPECT_FALSE(roots->verifyPeer(PeerChain{}, "api.pathwatch.test", kValid).ok);
}

}  // namespace
}  // namespace pathwatch
