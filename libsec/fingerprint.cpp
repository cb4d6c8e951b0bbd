#include "libsec/fingerprint.hpp"

#include <openssl/evp.h>

#include <array>

#include "libsec/openssl_handles.hpp"
#include "libsec/pem_files.hpp"

namespace sec {

namespace {

constexpr std::string_view k_base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string public_key_fingerprint(const X509* certificate) {
  // Not X509_pubkey_digest: it hashes only the key's BIT STRING, without the algorithm
  // identifier, and would not match what `openssl pkey -pubin -outform DER | sha256sum` or
  // other tools compute from the SubjectPublicKeyInfo.
  unsigned char* der = nullptr;
  const int der_length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &der);
  if (der_length <= 0) return {};
  const OpensslBytesHandle der_owner(der);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_length = 0;
  if (EVP_Digest(der, static_cast<std::size_t>(der_length), digest.data(), &digest_length, EVP_sha256(), nullptr) !=
      1) {
    return {};
  }
  // EVP_EncodeBlock writes 4 characters per 3 bytes and a terminating NUL.
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> encoded{};
  const int encoded_length = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(digest_length));
  std::string text(k_fingerprint_prefix);
  text.append(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(encoded_length));
  while (text.back() == '=') text.pop_back();
  return text;
}

proto::Result<std::string, std::string> public_key_fingerprint_of_pem_file(
    const std::filesystem::path& certificate_file) {
  const auto certificate = load_certificate_pem(certificate_file);
  if (!certificate) return proto::unexpected(certificate.error());
  auto fingerprint = public_key_fingerprint(certificate->get());
  if (fingerprint.empty()) return proto::unexpected("cannot hash the public key: " + take_openssl_errors());
  return fingerprint;
}

proto::Result<std::string, std::string> peer_public_key_fingerprint(const SSL* connection) {
  const X509* certificate = SSL_get0_peer_certificate(connection);
  if (certificate == nullptr) return proto::unexpected(std::string("the peer presented no certificate"));
  auto fingerprint = public_key_fingerprint(certificate);
  if (fingerprint.empty()) return proto::unexpected("cannot hash the peer's public key: " + take_openssl_errors());
  return fingerprint;
}

bool is_valid_fingerprint(std::string_view text) {
  if (text.size() != k_fingerprint_length || !text.starts_with(k_fingerprint_prefix)) return false;
  const auto base64 = text.substr(k_fingerprint_prefix.size());
  for (const char c : base64) {
    if (k_base64_alphabet.find(c) == std::string_view::npos) return false;
  }
  // 43 characters carry 258 bits for 256: the last character's two low bits are unused
  // and must be zero, or two spellings would name the same key.
  return k_base64_alphabet.find(base64.back()) % 4 == 0;
}

}  // namespace sec
