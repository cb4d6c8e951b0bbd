#include "libsec/device_certificate.hpp"

#include <catch2/catch.hpp>

#include <openssl/x509v3.h>

#include "libsec/fingerprint.hpp"
#include "libsec/pem_files.hpp"
#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace sec;
using sec::test::TemporaryDirectory;

namespace {

std::string name_entry(X509* certificate, int nid) {
  char text[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), nid, text, sizeof text);
  return text;
}

// Seconds from now until `time` (negative in the past).
long seconds_from_now(const ASN1_TIME* time) {
  int days = 0;
  int seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, time);
  return days * 86400L + seconds;
}

}  // namespace

TEST_CASE("A first start generates a P-256 key and a self-signed certificate naming the meter", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  const auto paths = ensure_device_certificate(state.path(), "VM0123456789");
  REQUIRE(paths);
  CHECK(paths->generated);
  CHECK(paths->key == state.path() / "tls" / "device-key.pem");
  CHECK(paths->certificate == state.path() / "tls" / "device-cert.pem");
  CHECK(test::file_mode(paths->key) == 0600);
  CHECK(test::file_mode(paths->certificate) == 0600);
  CHECK(test::file_mode(state.path() / "tls") == 0700);
  // Nothing of the staging step is left behind.
  CHECK_FALSE(std::filesystem::exists(state.path() / ".tls.new"));
  CHECK(std::distance(std::filesystem::directory_iterator(state.path() / "tls"), {}) == 2);

  const auto key = load_private_key_pem(paths->key);
  REQUIRE(key);
  CHECK(EVP_PKEY_get_base_id(key->get()) == EVP_PKEY_EC);
  char group[64] = {};
  REQUIRE(EVP_PKEY_get_group_name(key->get(), group, sizeof group, nullptr) == 1);
  CHECK(std::string(group) == "prime256v1");

  const auto certificate = load_certificate_pem(paths->certificate);
  REQUIRE(certificate);
  X509* x509 = certificate->get();
  CHECK(X509_get_version(x509) == X509_VERSION_3);
  CHECK(name_entry(x509, NID_commonName) == "VM0123456789");
  CHECK(name_entry(x509, NID_organizationName) == "meterd");
  CHECK(X509_NAME_cmp(X509_get_subject_name(x509), X509_get_issuer_name(x509)) == 0);
  CHECK(X509_check_private_key(x509, key->get()) == 1);
  CHECK(X509_verify(x509, key->get()) == 1);  // self-signed with the device key

  // Valid from about now for ten years.
  CHECK(std::labs(seconds_from_now(X509_get0_notBefore(x509))) < 300);
  CHECK(std::labs(seconds_from_now(X509_get0_notAfter(x509)) - 3650L * 86400) < 300);

  // Key usage digitalSignature only, extended key usage serverAuth, not a CA.
  CHECK((X509_get_extension_flags(x509) & EXFLAG_CA) == 0);
  CHECK(X509_get_key_usage(x509) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(x509) == XKU_SSL_SERVER);
  CHECK(X509_check_host(x509, "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(x509, "127.0.0.1", 0) == 1);
  CHECK(X509_check_host(x509, "meter.example", 0, 0, nullptr) != 1);

  // A random, positive serial number of 16 octets at most.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(x509);
  CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER);  // V_ASN1_NEG_INTEGER if negative
  CHECK(ASN1_STRING_length(serial) <= 16);
  CHECK(ASN1_STRING_length(serial) >= 8);

  CHECK(paths->fingerprint == public_key_fingerprint(x509));
}

TEST_CASE("Two generated certificates differ in key and serial number", "[libsec][tls]") {
  TemporaryDirectory first("device-cert");
  TemporaryDirectory second("device-cert");
  const auto a = ensure_device_certificate(first.path(), "VM0000000001");
  const auto b = ensure_device_certificate(second.path(), "VM0000000001");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->fingerprint != b->fingerprint);
  const auto certificate_a = load_certificate_pem(a->certificate);
  const auto certificate_b = load_certificate_pem(b->certificate);
  REQUIRE(certificate_a);
  REQUIRE(certificate_b);
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(certificate_a->get()), X509_get0_serialNumber(certificate_b->get())) !=
        0);
}

TEST_CASE("A later start loads the same certificate and key", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  const auto first = ensure_device_certificate(state.path(), "VM0123456789");
  REQUIRE(first);
  const auto certificate_text = test::read_text(first->certificate);
  const auto key_text = test::read_text(first->key);

  // The serial number only matters when generating.
  const auto again = ensure_device_certificate(state.path(), "VM9999999999");
  REQUIRE(again);
  CHECK_FALSE(again->generated);
  CHECK(again->fingerprint == first->fingerprint);
  CHECK(again->fingerprint == public_key_fingerprint_of_pem_file(again->certificate).value());
  CHECK(test::read_text(again->certificate) == certificate_text);
  CHECK(test::read_text(again->key) == key_text);
}

TEST_CASE("Generation also works when tls/ already exists", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  SECTION("empty") { std::filesystem::create_directories(state.path() / "tls"); }
  SECTION("holding other files") { test::write_text(state.path() / "tls" / "README", "site notes\n"); }
  SECTION("with a staging directory left by a crash") {
    test::write_text(state.path() / ".tls.new" / "device-key.pem", "half written");
  }
  const auto paths = ensure_device_certificate(state.path(), "VM0123456789");
  REQUIRE(paths);
  CHECK(paths->generated);
  CHECK(test::file_mode(paths->key) == 0600);
  CHECK_FALSE(std::filesystem::exists(state.path() / ".tls.new"));
  CHECK(ensure_device_certificate(state.path(), "VM0123456789").value().fingerprint == paths->fingerprint);
}

TEST_CASE("Only one of the two files is an error naming both, and nothing is generated", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  const auto generated = ensure_device_certificate(state.path(), "VM0123456789");
  REQUIRE(generated);
  SECTION("only the key") {
    std::filesystem::remove(generated->certificate);
    const auto result = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error(), Catch::Contains(generated->key.string() + " exists but " +
                                               generated->certificate.string() + " does not"));
    CHECK_FALSE(std::filesystem::exists(generated->certificate));
  }
  SECTION("only the certificate") {
    std::filesystem::remove(generated->key);
    const auto result = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error(), Catch::Contains(generated->certificate.string() + " exists but " +
                                               generated->key.string() + " does not"));
    CHECK_FALSE(std::filesystem::exists(generated->key));
  }
}

TEST_CASE("A key that does not belong to the certificate is refused", "[libsec][tls]") {
  TemporaryDirectory first("device-cert");
  TemporaryDirectory second("device-cert");
  const auto a = ensure_device_certificate(first.path(), "VM0000000001");
  const auto b = ensure_device_certificate(second.path(), "VM0000000002");
  REQUIRE(a);
  REQUIRE(b);
  std::filesystem::copy_file(b->key, a->key, std::filesystem::copy_options::overwrite_existing);
  const auto result = ensure_device_certificate(first.path(), "VM0000000001");
  REQUIRE_FALSE(result);
  CHECK_THAT(result.error(), Catch::Contains(a->key.string() + " is not the key of " + a->certificate.string()));
  CHECK_THAT(result.error(), Catch::Contains("move both files away"));
}

TEST_CASE("An expired or not yet valid certificate is refused with what to do", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  const auto paths = ensure_device_certificate(state.path(), "VM0123456789");
  REQUIRE(paths);
  const auto key = load_private_key_pem(paths->key);
  REQUIRE(key);
  SECTION("expired") {
    const auto expired = test::make_test_certificate(key->get(), -20, -10);
    REQUIRE(expired);
    test::write_pair(paths->certificate, expired.get(), paths->key, key->get());
    const auto result = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error(), Catch::Contains(paths->certificate.string() + " expired on "));
    CHECK_THAT(result.error(), Catch::Contains("restart meterd to generate a new pair"));
  }
  SECTION("not yet valid") {
    const auto future = test::make_test_certificate(key->get(), 10, 20);
    REQUIRE(future);
    test::write_pair(paths->certificate, future.get(), paths->key, key->get());
    const auto result = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error(), Catch::Contains("is not valid before"));
    CHECK_THAT(result.error(), Catch::Contains("system clock"));
  }
}

TEST_CASE("An installed pair is used as it is", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  const auto tls = state.path() / "tls";
  const sec::KeyHandle key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  REQUIRE(key);
  const auto certificate = test::make_test_certificate(key.get(), -1, 365, "meter-7.site.example");
  REQUIRE(certificate);
  test::write_pair(tls / "device-cert.pem", certificate.get(), tls / "device-key.pem", key.get());
  SECTION("key mode 0600") {}
  SECTION("key mode 0640 (a group such as ssl-cert)") { ::chmod((tls / "device-key.pem").c_str(), 0640); }
  const auto paths = ensure_device_certificate(state.path(), "VM0123456789");
  REQUIRE(paths);
  CHECK_FALSE(paths->generated);
  CHECK(paths->fingerprint == public_key_fingerprint(certificate.get()));
}

TEST_CASE("A private key other users can read is refused", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  const auto paths = ensure_device_certificate(state.path(), "VM0123456789");
  REQUIRE(paths);
  ::chmod(paths->key.c_str(), 0644);
  const auto result = ensure_device_certificate(state.path(), "VM0123456789");
  REQUIRE_FALSE(result);
  CHECK_THAT(result.error(), Catch::Contains("has mode 0644"));
  CHECK_THAT(result.error(), Catch::Contains("chmod 600 " + paths->key.string()));
}

TEST_CASE("Unreadable files are errors naming them", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  const auto tls = state.path() / "tls";
  SECTION("garbage certificate") {
    const auto paths = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE(paths);
    test::write_text(paths->certificate, "not a certificate\n");
    const auto result = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error(), Catch::Contains(paths->certificate.string() + " holds no PEM certificate"));
  }
  SECTION("encrypted key") {
    const auto paths = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE(paths);
    const auto key = load_private_key_pem(paths->key);
    REQUIRE(key);
    const sec::BioHandle bio(BIO_new(BIO_s_mem()));
    char passphrase[] = "secret";
    REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), key->get(), EVP_aes_256_cbc(), passphrase, 6, nullptr, nullptr) ==
            1);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    test::write_text(paths->key, std::string(data, static_cast<std::size_t>(size)));
    const auto result = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error(), Catch::Contains("cannot ask for a passphrase"));
  }
  SECTION("a dangling symlink counts as a file, not as room for a new key") {
    std::filesystem::create_directories(tls);
    std::filesystem::create_symlink(state.path() / "elsewhere.pem", tls / "device-key.pem");
    const auto result = ensure_device_certificate(state.path(), "VM0123456789");
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error(), Catch::Contains("exists but"));
  }
}

TEST_CASE("A serial number that cannot be a common name is refused", "[libsec][tls]") {
  TemporaryDirectory state("device-cert");
  for (const std::string& serial : {std::string(), std::string(65, 'A'), std::string("VM 1"), std::string("VM/1"),
                                    std::string("CN=x,O=y"), std::string("VM\n1")}) {
    const auto result = ensure_device_certificate(state.path(), serial);
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error(), Catch::Contains("cannot name a certificate"));
  }
  CHECK_FALSE(std::filesystem::exists(state.path() / "tls"));
  CHECK(ensure_device_certificate(state.path(), std::string(64, 'A')));
}
