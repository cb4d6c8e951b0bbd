#include "libsec/pem_files.hpp"

#include <catch2/catch.hpp>

#include <openssl/pem.h>

#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace sec;
using sec::test::TemporaryDirectory;

TEST_CASE("A key and a certificate survive writing and reading PEM", "[libsec][tls]") {
  TemporaryDirectory directory("pem");
  const sec::KeyHandle key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  REQUIRE(key);
  const auto certificate = test::make_test_certificate(key.get(), -1, 30);
  REQUIRE(certificate);
  test::write_pair(directory.path() / "cert.pem", certificate.get(), directory.path() / "key.pem", key.get());
  CHECK_THAT(test::read_text(directory.path() / "key.pem"), Catch::StartsWith("-----BEGIN PRIVATE KEY-----"));

  const auto loaded_key = load_private_key_pem(directory.path() / "key.pem");
  REQUIRE(loaded_key);
  CHECK(EVP_PKEY_eq(loaded_key->get(), key.get()) == 1);
  const auto loaded_certificate = load_certificate_pem(directory.path() / "cert.pem");
  REQUIRE(loaded_certificate);
  CHECK(X509_cmp(loaded_certificate->get(), certificate.get()) == 0);
}

TEST_CASE("A certificate chain file is bounded in size and in certificates", "[libsec][tls]") {
  TemporaryDirectory directory("pem");
  const sec::KeyHandle key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  const auto certificate = test::make_test_certificate(key.get(), -1, 30);
  REQUIRE(certificate);
  const auto one = certificate_pem(certificate.get()).value();
  const auto file = directory.path() / "chain.pem";

  std::string chain;
  for (std::size_t i = 0; i < k_max_chain_certificates; ++i) chain += one;
  test::write_text(file, chain);
  CHECK(load_certificate_chain_pem(file).value().size() == k_max_chain_certificates);

  test::write_text(file, chain + one);
  const auto too_many = load_certificate_chain_pem(file);
  REQUIRE_FALSE(too_many);
  CHECK_THAT(too_many.error(), Catch::Contains("more than 10 certificates"));

  test::write_text(file, "");
  const auto empty = load_certificate_chain_pem(file);
  REQUIRE_FALSE(empty);
  CHECK_THAT(empty.error(), Catch::Contains("holds no readable PEM certificate chain"));
}

TEST_CASE("A key file without a usable key is an error, never a passphrase prompt", "[libsec][tls]") {
  TemporaryDirectory directory("pem");
  const auto file = directory.path() / "key.pem";
  test::write_text(file, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  const auto garbage = load_private_key_pem(file);
  REQUIRE_FALSE(garbage);
  CHECK_THAT(garbage.error(), Catch::Contains(file.string() + " holds no unencrypted PEM private key"));

  const sec::KeyHandle key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  const sec::BioHandle bio(BIO_new(BIO_s_mem()));
  char passphrase[] = "secret";
  REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), passphrase, 6, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  test::write_text(file, std::string(data, static_cast<std::size_t>(size)));
  const auto encrypted = load_private_key_pem(file);
  REQUIRE_FALSE(encrypted);
  CHECK_THAT(encrypted.error(), Catch::Contains("cannot ask for a passphrase"));
}
