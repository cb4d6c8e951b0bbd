#pragma once
// Reading and writing the PEM files of certificates and private keys.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/result.hpp"
#include "libsec/openssl_handles.hpp"

namespace sec {

// A chain of a few certificates with RSA-4096 keys is about 10 KiB of PEM; anything far
// larger is not a certificate or key file meterd should be parsing.
inline constexpr std::size_t k_max_pem_file_bytes = 64 * 1024;

// The first certificate in a PEM file (a chain file starts with the end-entity certificate).
proto::Result<CertificateHandle, std::string> load_certificate_pem(const std::filesystem::path& file);
proto::Result<CertificateHandle, std::string> parse_certificate_pem(std::string_view text, const std::string& file);

// Every certificate in a PEM file, end-entity first: a server's certificate and its chain.
// At least one, and at most k_max_chain_certificates.
inline constexpr std::size_t k_max_chain_certificates = 10;
proto::Result<std::vector<CertificateHandle>, std::string> load_certificate_chain_pem(
    const std::filesystem::path& file);

// An unencrypted private key (PKCS#8 or traditional PEM). An encrypted key is an error,
// never a passphrase prompt: meterd starts unattended, and OpenSSL's default would read
// the terminal.
proto::Result<KeyHandle, std::string> load_private_key_pem(const std::filesystem::path& file);

proto::Result<std::string, std::string> certificate_pem(X509* certificate);
// PKCS#8, unencrypted: the file's 0600 mode is what protects it.
proto::Result<std::string, std::string> private_key_pem(EVP_PKEY* key);

}  // namespace sec
