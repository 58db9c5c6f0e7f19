#pragma once
// A throwaway PKI for the fetch tests, generated in-process with OpenSSL once
// per test binary: a "public" root (with an intermediate), a "corporate" root
// that only the route's CA file trusts, and an unknown root nobody trusts.
#include <string>

namespace pathwatch::fetchtest {

// The name every good leaf is issued for; tests pin it to 127.0.0.1.
inline constexpr const char* kTestHost = "api.pathwatch.test";

struct TestLeaf {
  std::string cert_chain_pem;  // leaf first, then any intermediate
  std::string key_pem;
};

struct TestPki {
  std::string dir;                // temp dir holding the files below
  std::string public_roots_file;  // the public root only
  std::string public_roots_dir;   // a folder with the public root as a .crt
  std::string ca_file;            // public root + corporate root: what the route trusts
  std::string public_root_pem, corporate_root_pem;
  TestLeaf good;        // public root -> intermediate -> leaf for kTestHost and 127.0.0.1
  TestLeaf expired;     // public chain, expired yesterday
  TestLeaf not_yet;     // public chain, valid from next year
  TestLeaf wrong_name;  // public chain, issued for other.pathwatch.test
  TestLeaf unknown_ca;  // a root that nobody trusts
  TestLeaf corporate;   // the corporate root: in ca_file, not in the public roots

  // Built on first use; the temp dir is removed at exit.
  static const TestPki& get();
};

}  // namespace pathwatch::fetchtest
