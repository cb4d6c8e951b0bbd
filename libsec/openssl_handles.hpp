#pragma once
// Owners for the OpenSSL objects libsec creates. Every early return on an error path frees
// what was allocated before it; the unit tests run under LeakSanitizer to hold us to that.

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace sec {

template <auto free_function>
struct OpensslDeleter {
  template <typename T>
  void operator()(T* object) const {
    free_function(object);
  }
};

using BioHandle = std::unique_ptr<BIO, OpensslDeleter<BIO_free_all>>;
using KeyHandle = std::unique_ptr<EVP_PKEY, OpensslDeleter<EVP_PKEY_free>>;
using CertificateHandle = std::unique_ptr<X509, OpensslDeleter<X509_free>>;
using ExtensionHandle = std::unique_ptr<X509_EXTENSION, OpensslDeleter<X509_EXTENSION_free>>;
using BignumHandle = std::unique_ptr<BIGNUM, OpensslDeleter<BN_free>>;
using SslHandle = std::unique_ptr<SSL, OpensslDeleter<SSL_free>>;
using SslContextHandle = std::unique_ptr<SSL_CTX, OpensslDeleter<SSL_CTX_free>>;

// OPENSSL_free is a macro (it records file and line), so it needs a function of its own.
inline void free_openssl_memory(void* memory) { OPENSSL_free(memory); }
using OpensslStringHandle = std::unique_ptr<char, OpensslDeleter<free_openssl_memory>>;
using OpensslBytesHandle = std::unique_ptr<unsigned char, OpensslDeleter<free_openssl_memory>>;

// Drains this thread's OpenSSL error queue into one line ("reason; reason"), so that a
// failure is reported once and does not leak into the next, unrelated OpenSSL call.
std::string take_openssl_errors();

}  // namespace sec
