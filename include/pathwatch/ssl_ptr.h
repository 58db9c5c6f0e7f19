#pragma once
// One owner type for every OpenSSL object: std::unique_ptr with the object's
// own *_free as deleter. Use these instead of raw pointers and hand-written
// frees, so an early return or an exception can never leak or double-free.
//
//   X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
//   SslPtr ssl(SSL_new(ctx.get()));
//   SSL_set_bio(ssl.get(), rbio.release(), wbio.release());  // ownership moves
//
// STACK_OF(X509) owns its certificates (sk_X509_pop_free); a stack that only
// borrows them (SSL_get_peer_cert_chain) is never put in an X509StackPtr.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

namespace pathwatch {

// Calls `Free` on a non-null pointer (unique_ptr never calls it with null).
template <auto Free>
struct OpenSslFree {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

struct X509StackFree {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_pop_free(s, X509_free); }
};

using X509Ptr = std::unique_ptr<X509, OpenSslFree<X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpenSslFree<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslFree<X509_EXTENSION_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslFree<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslFree<X509_STORE_CTX_free>>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslFree<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslFree<SSL_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslFree<BIO_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslFree<BN_free>>;

}  // namespace pathwatch
