#include "libsec/signing_key.hpp"

#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace sec;
using sec::test::TemporaryDirectory;

namespace {

std::vector<std::byte> from_hex(std::string_view text) {
  std::vector<std::byte> bytes;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    bytes.push_back(static_cast<std::byte>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

// RFC 8032 section 7.1, TEST 1: the secret key, its public key, and the signature of the
// empty message.
constexpr std::string_view k_rfc8032_secret = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view k_rfc8032_signature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe2465"
    "5"
    "141438e7a100b";

KeyHandle rfc8032_key() {
  const auto secret = from_hex(k_rfc8032_secret);
  return KeyHandle(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char*>(secret.data()), secret.size()));
}

}  // namespace

TEST_CASE("Ed25519 signing gives RFC 8032's signature, and the key id is SHA-256 of the public key",
          "[libsec][signing]") {
  const auto key = rfc8032_key();
  REQUIRE(key);
  // The first 8 bytes of SHA-256 of d75a9801...f707511a, the RFC's public key.
  CHECK(signing_key_id(key.get()) == "21fe31dfa154a261");
  const auto signature = ed25519_sign(key.get(), {});
  REQUIRE(signature);
  const auto expected = from_hex(k_rfc8032_signature);
  CHECK(std::equal(signature->begin(), signature->end(), expected.begin(), expected.end()));
  CHECK(ed25519_verify(key.get(), {}, *signature));
}

TEST_CASE("A signature verifies only for its message and its key", "[libsec][signing]") {
  const auto key = generate_signing_key();
  const auto other = generate_signing_key();
  REQUIRE(key);
  REQUIRE(other);
  const std::string text = "firmware";
  const std::span message(reinterpret_cast<const std::byte*>(text.data()), text.size());
  const auto signature = ed25519_sign(key->get(), message);
  REQUIRE(signature);
  CHECK(ed25519_verify(key->get(), message, *signature));
  CHECK_FALSE(ed25519_verify(other->get(), message, *signature));
  CHECK_FALSE(ed25519_verify(key->get(), message.first(message.size() - 1), *signature));
  auto damaged = *signature;
  damaged[10] ^= std::byte{0x01};
  CHECK_FALSE(ed25519_verify(key->get(), message, damaged));
  CHECK(signing_key_id(key->get()) != signing_key_id(other->get()));
}

TEST_CASE("Signing keys are PKCS#8 and SubjectPublicKeyInfo PEM, and load back with the same id", "[libsec][signing]") {
  TemporaryDirectory directory("signing-key");
  const auto key = generate_signing_key();
  REQUIRE(key);
  const auto private_pem = signing_private_key_pem(key->get());
  const auto public_pem = signing_public_key_pem(key->get());
  REQUIRE(private_pem);
  REQUIRE(public_pem);
  CHECK_THAT(*private_pem, Catch::StartsWith("-----BEGIN PRIVATE KEY-----"));
  CHECK_THAT(*public_pem, Catch::StartsWith("-----BEGIN PUBLIC KEY-----"));
  test::write_text(directory.path() / "key", *private_pem);
  test::write_text(directory.path() / "key.pub", *public_pem, 0644);

  const auto loaded_private = load_signing_private_key(directory.path() / "key");
  REQUIRE(loaded_private);
  CHECK(EVP_PKEY_eq(loaded_private->get(), key->get()) == 1);
  const auto loaded_public = load_signing_public_key(directory.path() / "key.pub");
  REQUIRE(loaded_public);
  CHECK(loaded_public->id == signing_key_id(key->get()));
  CHECK(is_valid_key_id(loaded_public->id));
  CHECK(loaded_public->source == (directory.path() / "key.pub").string());
}

TEST_CASE("A key of the wrong kind or shape is refused with a message that says which", "[libsec][signing]") {
  const auto key = generate_signing_key();
  REQUIRE(key);
  const auto private_pem = signing_private_key_pem(key->get()).value();
  const auto public_pem = signing_public_key_pem(key->get()).value();

  const auto public_as_private = parse_signing_private_key_pem(public_pem, "k.pub");
  REQUIRE_FALSE(public_as_private);
  CHECK_THAT(public_as_private.error(), Catch::Contains("holds a public key"));
  const auto private_as_public = parse_signing_public_key_pem(private_pem, "k");
  REQUIRE_FALSE(private_as_public);
  CHECK_THAT(private_as_public.error(), Catch::Contains("holds a private key"));

  const KeyHandle ec_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  REQUIRE(ec_key);
  const auto ec_private = parse_signing_private_key_pem(private_key_pem(ec_key.get()).value(), "ec");
  REQUIRE_FALSE(ec_private);
  CHECK_THAT(ec_private.error(), Catch::Contains("not Ed25519"));
  CHECK(signing_key_id(ec_key.get()).empty());
  CHECK_FALSE(signing_public_key_pem(ec_key.get()));

  CHECK_FALSE(parse_signing_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "x"));
  CHECK_FALSE(parse_signing_private_key_pem("", "empty"));
  const auto huge = parse_signing_public_key_pem(std::string(k_max_signing_key_file_bytes + 1, 'A'), "huge");
  REQUIRE_FALSE(huge);
  CHECK_THAT(huge.error(), Catch::Contains("larger than"));

  TemporaryDirectory directory("signing-key");
  const auto missing = load_signing_public_key(directory.path() / "none.pub");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error(), Catch::Contains("does not exist"));
}

TEST_CASE("Key ids are 16 lowercase hex digits", "[libsec][signing]") {
  CHECK(is_valid_key_id("0123456789abcdef"));
  CHECK_FALSE(is_valid_key_id("0123456789ABCDEF"));
  CHECK_FALSE(is_valid_key_id("0123456789abcde"));
  CHECK_FALSE(is_valid_key_id("0123456789abcdefa"));
  CHECK_FALSE(is_valid_key_id("0123456789abcdeg"));
}
