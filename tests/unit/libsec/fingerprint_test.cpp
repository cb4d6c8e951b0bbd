#include "libsec/fingerprint.hpp"

#include <catch2/catch.hpp>

#include "libsec/pem_files.hpp"
#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace sec;
using sec::test::TemporaryDirectory;

namespace {

// Made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256`. Its fingerprint
// was computed independently of libsec:
//   openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER |
//     openssl dgst -sha256 -binary | base64 | tr -d =
constexpr std::string_view k_known_certificate = R"(-----BEGIN CERTIFICATE-----
MIIBpzCCAU2gAwIBAgIUDoZ0PoyPxPkl3xNqvbY3GImrq+MwCgYIKoZIzj0EAwIw
KDEVMBMGA1UEAwwMVk0wMDAwMDAwMDQyMQ8wDQYDVQQKDAZtZXRlcmQwIBcNMjYx
MTIxMTMwNTI1WhgPMjEyNjEwMjgxMzA1MjVaMCgxFTATBgNVBAMMDFZNMDAwMDAw
MDA0MjEPMA0GA1UECgwGbWV0ZXJkMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
P2fwOrtVkXPjJwYfkluCnJ9rrvBMSb2bjuzBG1ij7XS7XHffWxWqcIcQ15R9KE7R
63PtzJXW2IwBxr5Z+Y/rkKNTMFEwHQYDVR0OBBYEFBCZJ6YKjCELxMrhpEhSAiA8
NlP6MB8GA1UdIwQYMBaAFBCZJ6YKjCELxMrhpEhSAiA8NlP6MA8GA1UdEwEB/wQF
MAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAK5sIuKmVrs0vo0VnGaP1Ku8F4h7iJPk
U+Y0Ft6Wo1MaAiA01CVrub7YADvFqgVmEEuNYT32abkk5k4ith8eT45X5w==
-----END CERTIFICATE-----
)";
constexpr std::string_view k_known_fingerprint = "SHA256:B8MFe0egggiigArxsjAK/CSxdR0vZ5SmSM2PbtkY0mA";

}  // namespace

TEST_CASE("The fingerprint is SHA-256 of the SubjectPublicKeyInfo in unpadded base64", "[libsec][tls]") {
  const auto certificate = parse_certificate_pem(k_known_certificate, "known.pem");
  REQUIRE(certificate);
  const auto fingerprint = public_key_fingerprint(certificate->get());
  CHECK(fingerprint == k_known_fingerprint);
  CHECK(fingerprint.size() == k_fingerprint_length);
  CHECK(fingerprint.find('=') == std::string::npos);
  CHECK(is_valid_fingerprint(fingerprint));
}

TEST_CASE("A certificate renewed with the same key keeps its fingerprint", "[libsec][tls]") {
  const sec::KeyHandle key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  const sec::KeyHandle other(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  REQUIRE(key);
  REQUIRE(other);
  const auto original = test::make_test_certificate(key.get(), 0, 30, "first");
  const auto renewed = test::make_test_certificate(key.get(), 0, 3000, "second");
  const auto replaced = test::make_test_certificate(other.get(), 0, 30, "first");
  REQUIRE(original);
  REQUIRE(renewed);
  REQUIRE(replaced);
  CHECK(public_key_fingerprint(original.get()) == public_key_fingerprint(renewed.get()));
  CHECK(public_key_fingerprint(original.get()) != public_key_fingerprint(replaced.get()));
}

TEST_CASE("The fingerprint of a PEM file", "[libsec][tls]") {
  TemporaryDirectory directory("fingerprint");
  const auto file = directory.path() / "cert.pem";
  test::write_text(file, k_known_certificate);
  CHECK(public_key_fingerprint_of_pem_file(file).value() == k_known_fingerprint);

  const auto missing = public_key_fingerprint_of_pem_file(directory.path() / "missing.pem");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error(), Catch::Contains("missing.pem does not exist"));

  test::write_text(file, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  const auto garbage = public_key_fingerprint_of_pem_file(file);
  REQUIRE_FALSE(garbage);
  CHECK_THAT(garbage.error(), Catch::Contains("cert.pem holds no PEM certificate"));

  test::write_text(file, std::string(k_max_pem_file_bytes + 1, 'A'));
  const auto huge = public_key_fingerprint_of_pem_file(file);
  REQUIRE_FALSE(huge);
  CHECK_THAT(huge.error(), Catch::Contains("larger than"));
}

TEST_CASE("Only the exact spelling of a fingerprint is valid", "[libsec][tls]") {
  const std::string valid(k_known_fingerprint);
  CHECK(is_valid_fingerprint(valid));
  CHECK_FALSE(is_valid_fingerprint(""));
  CHECK_FALSE(is_valid_fingerprint(valid + "="));                        // padding
  CHECK_FALSE(is_valid_fingerprint(valid.substr(0, valid.size() - 1)));  // short
  CHECK_FALSE(is_valid_fingerprint(valid + "A"));                        // long
  CHECK_FALSE(is_valid_fingerprint("sha256:" + valid.substr(7)));        // prefix case
  CHECK_FALSE(is_valid_fingerprint("MD5:" + valid.substr(7) + "AAA"));   // other prefix
  std::string url_safe = valid;
  url_safe[10] = '-';  // base64url is not the alphabet
  CHECK_FALSE(is_valid_fingerprint(url_safe));
  // The last character carries two unused bits: "A" (0) is canonical, "B" (1) is not.
  std::string last = valid;
  last.back() = 'A';
  CHECK(is_valid_fingerprint(last));
  last.back() = 'B';
  CHECK_FALSE(is_valid_fingerprint(last));
  last.back() = 'E';
  CHECK(is_valid_fingerprint(last));
}
