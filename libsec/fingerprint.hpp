#pragma once
// The fingerprint meterctl pins and meterd prints: SHA-256 of the DER SubjectPublicKeyInfo
// of a certificate, written "SHA256:" + base64 without padding, the form OpenSSH prints.
//
// It hashes the public key, not the whole certificate (as RFC 7469 pin-sha256 does), so a
// meter that renews its certificate with the same key keeps its pin.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "libproto/result.hpp"

namespace sec {

inline constexpr std::string_view k_fingerprint_prefix = "SHA256:";
// 32 bytes of SHA-256 in base64 are 44 characters with one '=' of padding, 43 without.
inline constexpr std::size_t k_fingerprint_base64_length = 43;
inline constexpr std::size_t k_fingerprint_length = k_fingerprint_prefix.size() + k_fingerprint_base64_length;

// "SHA256:" + 43 characters of base64 (RFC 4648 section 4 alphabet, no padding). Returns
// an empty string only if OpenSSL cannot encode the key (out of memory); an empty string
// matches no pin. `certificate` must not be null.
std::string public_key_fingerprint(const X509* certificate);

// The fingerprint of the first certificate in a PEM file.
proto::Result<std::string, std::string> public_key_fingerprint_of_pem_file(
    const std::filesystem::path& certificate_file);

// The fingerprint of the certificate the peer presented in a completed handshake.
proto::Result<std::string, std::string> peer_public_key_fingerprint(const SSL* connection);

// Whether `text` is exactly a fingerprint as public_key_fingerprint writes it, including
// the zero bits base64 leaves in the last character, so that one key has one spelling.
bool is_valid_fingerprint(std::string_view text);

}  // namespace sec
