#pragma once
// Ed25519 keys that sign firmware packages (meter-firmware-package(5)): generation, PEM
// files, the key id, and raw signing and verification.
//
// The private key is PKCS#8 PEM and the public key SubjectPublicKeyInfo PEM, the forms
// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write, so a vendor can
// keep its signing key in whatever tooling it already trusts (an HSM exporting PKCS#8,
// for instance) and still use meterctl to pack.

#include <array>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "libproto/result.hpp"
#include "libsec/openssl_handles.hpp"

namespace sec {

// RFC 8032 section 5.1.5 and 5.1.6: a public key is 32 bytes, a signature 64.
inline constexpr std::size_t k_ed25519_public_key_bytes = 32;
inline constexpr std::size_t k_ed25519_signature_bytes = 64;
using Ed25519Signature = std::array<std::byte, k_ed25519_signature_bytes>;

using DigestContextHandle = std::unique_ptr<EVP_MD_CTX, OpensslDeleter<EVP_MD_CTX_free>>;

// The key id: the first 8 bytes of SHA-256 of the raw 32-byte public key, as 16
// lowercase hex digits. It only picks a candidate key; the signature decides, so a
// collision costs a failed verification, never a false acceptance.
inline constexpr std::size_t k_key_id_bytes = 8;
inline constexpr std::size_t k_key_id_length = 2 * k_key_id_bytes;

// A public key file is one short PEM block; anything larger is not one.
inline constexpr std::size_t k_max_signing_key_file_bytes = 16 * 1024;

// A verification key with the id the manifest names it by and where it came from (a file
// name, for messages).
struct SigningPublicKey {
  KeyHandle key;
  std::string id;
  std::string source;
};

// A fresh Ed25519 key pair from OpenSSL's default random generator.
proto::Result<KeyHandle, std::string> generate_signing_key();

// PEM texts of a key pair: PKCS#8 ("PRIVATE KEY", unencrypted: the file's 0600 mode is
// what protects it) and SubjectPublicKeyInfo ("PUBLIC KEY").
proto::Result<std::string, std::string> signing_private_key_pem(EVP_PKEY* key);
proto::Result<std::string, std::string> signing_public_key_pem(EVP_PKEY* key);

// Parses PEM text; anything but an unencrypted Ed25519 key of the right kind is an error
// naming `source`. A public key file given where a private key is expected (and the
// reverse) is refused with a message that says so.
proto::Result<KeyHandle, std::string> parse_signing_private_key_pem(std::string_view text, const std::string& source);
proto::Result<KeyHandle, std::string> parse_signing_public_key_pem(std::string_view text, const std::string& source);

// The same from files of at most k_max_signing_key_file_bytes.
proto::Result<KeyHandle, std::string> load_signing_private_key(const std::filesystem::path& file);
proto::Result<SigningPublicKey, std::string> load_signing_public_key(const std::filesystem::path& file);

// The key id of an Ed25519 key, private or public (see k_key_id_bytes); empty if
// `key` is not an Ed25519 key.
std::string signing_key_id(EVP_PKEY* key);

// Whether `text` is a key id as signing_key_id writes it (16 lowercase hex digits).
bool is_valid_key_id(std::string_view text);

// RFC 8032 Ed25519 (pure, no context) over `message`.
proto::Result<Ed25519Signature, std::string> ed25519_sign(EVP_PKEY* private_key, std::span<const std::byte> message);
// True only when `signature` is a valid signature of `message` by `public_key`; any
// OpenSSL failure is a false.
bool ed25519_verify(EVP_PKEY* public_key, std::span<const std::byte> message, const Ed25519Signature& signature);

}  // namespace sec
