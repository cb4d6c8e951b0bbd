#include "libsec/signing_key.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "libsec/pem_files.hpp"
#include "libsec/private_file.hpp"

namespace sec {

namespace {

// Refuses any passphrase: pack runs in CI, where OpenSSL's default would read the terminal.
int refuse_passphrase(char*, int, int, void*) { return -1; }

BioHandle memory_bio(std::string_view text) {
  // k_max_signing_key_file_bytes keeps every text handed over far below INT_MAX.
  return BioHandle(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

bool is_ed25519(EVP_PKEY* key) { return key != nullptr && EVP_PKEY_is_a(key, "ED25519") == 1; }

proto::Result<std::string, std::string> read_key_file(const std::filesystem::path& file) {
  auto contents = read_file_if_exists(file, k_max_signing_key_file_bytes);
  if (!contents) return proto::unexpected(contents.error());
  if (!contents->has_value()) return proto::unexpected(file.string() + " does not exist");
  return std::move(**contents);
}

bool holds_pem_block(std::string_view text, std::string_view label) {
  return text.find("-----BEGIN " + std::string(label) + "-----") != std::string_view::npos;
}

}  // namespace

proto::Result<KeyHandle, std::string> generate_signing_key() {
  KeyHandle key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return proto::unexpected("cannot generate an Ed25519 key: " + take_openssl_errors());
  return key;
}

proto::Result<std::string, std::string> signing_private_key_pem(EVP_PKEY* key) {
  if (!is_ed25519(key)) return proto::unexpected(std::string("not an Ed25519 key"));
  return private_key_pem(key);
}

proto::Result<std::string, std::string> signing_public_key_pem(EVP_PKEY* key) {
  if (!is_ed25519(key)) return proto::unexpected(std::string("not an Ed25519 key"));
  const BioHandle bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    return proto::unexpected("cannot encode the public key as PEM: " + take_openssl_errors());
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  if (size < 0 || data == nullptr) return proto::unexpected("cannot read PEM output: " + take_openssl_errors());
  return std::string(data, static_cast<std::size_t>(size));
}

proto::Result<KeyHandle, std::string> parse_signing_private_key_pem(std::string_view text, const std::string& source) {
  if (text.size() > k_max_signing_key_file_bytes) {
    return proto::unexpected(source + " is larger than " + std::to_string(k_max_signing_key_file_bytes) + " bytes");
  }
  if (holds_pem_block(text, "PUBLIC KEY") && !holds_pem_block(text, "PRIVATE KEY")) {
    return proto::unexpected(source + " holds a public key; signing needs the private key file (without .pub)");
  }
  const auto bio = memory_bio(text);
  if (!bio) return proto::unexpected("cannot read " + source + ": " + take_openssl_errors());
  KeyHandle key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!key) {
    return proto::unexpected(source + " holds no unencrypted PEM private key (" + take_openssl_errors() + ")");
  }
  if (!is_ed25519(key.get())) return proto::unexpected(source + " holds a private key that is not Ed25519");
  return key;
}

proto::Result<KeyHandle, std::string> parse_signing_public_key_pem(std::string_view text, const std::string& source) {
  if (text.size() > k_max_signing_key_file_bytes) {
    return proto::unexpected(source + " is larger than " + std::to_string(k_max_signing_key_file_bytes) + " bytes");
  }
  if (holds_pem_block(text, "PRIVATE KEY")) {
    // A private key where a public one belongs is a key that is about to be shared.
    return proto::unexpected(source + " holds a private key; give the public key file (PREFIX.pub)");
  }
  const auto bio = memory_bio(text);
  if (!bio) return proto::unexpected("cannot read " + source + ": " + take_openssl_errors());
  KeyHandle key(PEM_read_bio_PUBKEY(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!key) return proto::unexpected(source + " holds no PEM public key (" + take_openssl_errors() + ")");
  if (!is_ed25519(key.get())) return proto::unexpected(source + " holds a public key that is not Ed25519");
  return key;
}

proto::Result<KeyHandle, std::string> load_signing_private_key(const std::filesystem::path& file) {
  auto text = read_key_file(file);
  if (!text) return proto::unexpected(text.error());
  return parse_signing_private_key_pem(*text, file.string());
}

proto::Result<SigningPublicKey, std::string> load_signing_public_key(const std::filesystem::path& file) {
  auto text = read_key_file(file);
  if (!text) return proto::unexpected(text.error());
  auto key = parse_signing_public_key_pem(*text, file.string());
  if (!key) return proto::unexpected(key.error());
  auto id = signing_key_id(key->get());
  if (id.empty()) return proto::unexpected("cannot compute the key id of " + file.string());
  return SigningPublicKey{std::move(*key), std::move(id), file.string()};
}

std::string signing_key_id(EVP_PKEY* key) {
  if (!is_ed25519(key)) return {};
  unsigned char raw[k_ed25519_public_key_bytes];
  std::size_t raw_length = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &raw_length) != 1 || raw_length != sizeof raw) {
    take_openssl_errors();
    return {};
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_Digest(raw, raw_length, digest, &digest_length, EVP_sha256(), nullptr) != 1 || digest_length < 32) {
    take_openssl_errors();
    return {};
  }
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string id;
  for (std::size_t i = 0; i < k_key_id_bytes; ++i) {
    id += k_digits[digest[i] >> 4];
    id += k_digits[digest[i] & 0x0F];
  }
  return id;
}

bool is_valid_key_id(std::string_view text) {
  if (text.size() != k_key_id_length) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

proto::Result<Ed25519Signature, std::string> ed25519_sign(EVP_PKEY* private_key, std::span<const std::byte> message) {
  if (!is_ed25519(private_key)) return proto::unexpected(std::string("not an Ed25519 key"));
  const DigestContextHandle context(EVP_MD_CTX_new());
  Ed25519Signature signature{};
  std::size_t length = signature.size();
  // Ed25519 takes no separate digest (RFC 8032 hashes internally): the digest is null
  // and the message goes in one call; OpenSSL 3.0 offers no update for it.
  if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, private_key) != 1 ||
      EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      length != signature.size()) {
    return proto::unexpected("Ed25519 signing failed: " + take_openssl_errors());
  }
  return signature;
}

bool ed25519_verify(EVP_PKEY* public_key, std::span<const std::byte> message, const Ed25519Signature& signature) {
  if (!is_ed25519(public_key)) return false;
  const DigestContextHandle context(EVP_MD_CTX_new());
  const bool valid =
      context && EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, public_key) == 1 &&
      EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  // A refused signature leaves a reason on the queue; it must not surface in a later,
  // unrelated error message.
  if (!valid) take_openssl_errors();
  return valid;
}

}  // namespace sec
