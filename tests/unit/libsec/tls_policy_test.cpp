#include "libsec/tls_policy.hpp"

#include <catch2/catch.hpp>

#include <openssl/err.h>

#include "libsec/device_certificate.hpp"
#include "libsec/fingerprint.hpp"
#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace sec;
using sec::test::TemporaryDirectory;

namespace {

// The result of a handshake between two SSL objects joined by an in-memory BIO pair.
struct Handshake {
  bool client_done = false;
  bool server_done = false;
  std::string client_error;  // OpenSSL's reasons when a side failed
  std::string server_error;
  bool succeeded() const { return client_done && server_done; }
};

// Drives both ends in turn until both finish, or one fails and the other has read its alert.
Handshake run_handshake(SSL* client, SSL* server) {
  BIO* client_end = nullptr;
  BIO* server_end = nullptr;
  REQUIRE(BIO_new_bio_pair(&client_end, 0, &server_end, 0) == 1);
  SSL_set_bio(client, client_end, client_end);  // each SSL owns its end from here on
  SSL_set_bio(server, server_end, server_end);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server);
  Handshake handshake;
  bool client_failed = false;
  bool server_failed = false;
  const auto step = [](SSL* ssl, bool& done, bool& failed, std::string& error) {
    if (done || failed) return;
    const int result = SSL_do_handshake(ssl);
    if (result == 1) {
      done = true;
      return;
    }
    const int reason = SSL_get_error(ssl, result);
    if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) return;
    failed = true;
    error = take_openssl_errors();
  };
  for (int round = 0; round < 50; ++round) {
    step(client, handshake.client_done, client_failed, handshake.client_error);
    step(server, handshake.server_done, server_failed, handshake.server_error);
    if ((handshake.client_done || client_failed) && (handshake.server_done || server_failed)) break;
  }
  ERR_clear_error();
  return handshake;
}

// A device certificate in a scratch state directory, and a server context presenting it.
struct Server {
  TemporaryDirectory state{"tls-policy"};
  DeviceCertificatePaths paths = ensure_device_certificate(state.path(), "VM0123456789").value();
  std::shared_ptr<boost::asio::ssl::context> context = make_server_tls_context(paths.certificate, paths.key).value();
  SslHandle connection() const { return SslHandle(SSL_new(context->native_handle())); }
};

SslHandle new_connection(const std::shared_ptr<boost::asio::ssl::context>& context) {
  return SslHandle(SSL_new(context->native_handle()));
}

// A client context outside the policy, to play an old or misconfigured peer.
SslContextHandle legacy_client_context(int max_version, const char* ciphers) {
  SslContextHandle context(SSL_CTX_new(TLS_client_method()));
  // Security level 0: OpenSSL 3 refuses to even offer TLS 1.1 (SHA-1 signatures) above it.
  SSL_CTX_set_security_level(context.get(), 0);
  SSL_CTX_set_min_proto_version(context.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(context.get(), max_version);
  SSL_CTX_set_cipher_list(context.get(), ciphers);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
  return context;
}

}  // namespace

TEST_CASE("The policy strings are the Mozilla intermediate profile without DHE", "[libsec][tls]") {
  CHECK(std::string_view(k_tls13_ciphersuites) ==
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  CHECK(std::string_view(k_tls12_cipher_list) ==
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  CHECK(std::string_view(k_tls_groups) == "X25519:P-256:P-384");
  CHECK(k_tls_min_version == TLS1_2_VERSION);
  CHECK(k_tls_max_version == TLS1_3_VERSION);
}

TEST_CASE("Both contexts carry the policy", "[libsec][tls]") {
  Server server;
  const auto client = make_client_tls_context(std::nullopt);
  REQUIRE(client);
  for (SSL_CTX* context : {server.context->native_handle(), (*client)->native_handle()}) {
    CHECK(SSL_CTX_get_min_proto_version(context) == TLS1_2_VERSION);
    CHECK(SSL_CTX_get_max_proto_version(context) == TLS1_3_VERSION);
    CHECK(SSL_CTX_get_security_level(context) == k_tls_security_level);
    CHECK((SSL_CTX_get_options(context) & k_tls_options) == k_tls_options);
    CHECK((SSL_CTX_get_options(context) & SSL_OP_ALLOW_CLIENT_RENEGOTIATION) == 0);
    CHECK(SSL_CTX_get_session_cache_mode(context) == SSL_SESS_CACHE_OFF);
    // Every suite on offer is AEAD: GCM or ChaCha20-Poly1305, with ECDHE in TLS 1.2.
    const auto connection = new_connection(server.context);
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(context);
    REQUIRE(sk_SSL_CIPHER_num(ciphers) == 9);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
      const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
      INFO(SSL_CIPHER_get_name(cipher));
      CHECK(SSL_CIPHER_is_aead(cipher) == 1);
      const int key_exchange = SSL_CIPHER_get_kx_nid(cipher);
      CHECK((key_exchange == NID_kx_ecdhe || key_exchange == NID_kx_any));
    }
  }
  const SSL_CTX* server_context = server.context->native_handle();
  CHECK((SSL_CTX_get_options(server_context) & SSL_OP_CIPHER_SERVER_PREFERENCE) != 0);
  CHECK(SSL_CTX_get_num_tickets(server_context) == 0);
  CHECK(SSL_CTX_get_verify_mode(server_context) == SSL_VERIFY_NONE);
}

TEST_CASE("A pinning client and the device's server complete a TLS 1.3 handshake in memory", "[libsec][tls]") {
  Server server;
  const auto client_context = make_client_tls_context(std::nullopt);
  REQUIRE(client_context);
  const auto client = new_connection(*client_context);
  const auto server_connection = server.connection();
  REQUIRE(set_expected_peer_name(client.get(), "meter-7.site.example"));
  const auto handshake = run_handshake(client.get(), server_connection.get());
  INFO(handshake.client_error << " / " << handshake.server_error);
  REQUIRE(handshake.succeeded());

  CHECK(SSL_version(client.get()) == TLS1_3_VERSION);
  CHECK(std::string(SSL_get_cipher_name(client.get())) == "TLS_AES_128_GCM_SHA256");  // the server's first choice
  CHECK(SSL_get_negotiated_group(client.get()) == NID_X25519);
  CHECK(SSL_get_current_compression(client.get()) == nullptr);
  CHECK(std::string(SSL_get_servername(server_connection.get(), TLSEXT_NAMETYPE_host_name)) == "meter-7.site.example");

  // The chain is self-signed and accepted; authenticating the peer is the pin check's job.
  CHECK(requires_pin_check(client.get()));
  CHECK(requires_pin_check((*client_context)->native_handle()));
  CHECK(peer_public_key_fingerprint(client.get()).value() == server.paths.fingerprint);

  // And the channel carries data both ways.
  char buffer[16] = {};
  REQUIRE(SSL_write(client.get(), "hello", 5) == 5);
  REQUIRE(SSL_read(server_connection.get(), buffer, sizeof buffer) == 5);
  CHECK(std::string(buffer, 5) == "hello");
  REQUIRE(SSL_write(server_connection.get(), "meter", 5) == 5);
  REQUIRE(SSL_read(client.get(), buffer, sizeof buffer) == 5);
  CHECK(std::string(buffer, 5) == "meter");
  // No TLS 1.3 session ticket came with it.
  const SSL_SESSION* session = SSL_get0_session(client.get());
  CHECK((session == nullptr || SSL_SESSION_is_resumable(session) == 0));
}

TEST_CASE("A client limited to TLS 1.2 gets an ECDHE-ECDSA AES-GCM suite", "[libsec][tls]") {
  Server server;
  const auto client_context = make_client_tls_context(std::nullopt);
  REQUIRE(client_context);
  const auto client = new_connection(*client_context);
  SSL_set_max_proto_version(client.get(), TLS1_2_VERSION);
  const auto server_connection = server.connection();
  const auto handshake = run_handshake(client.get(), server_connection.get());
  INFO(handshake.client_error << " / " << handshake.server_error);
  REQUIRE(handshake.succeeded());
  CHECK(SSL_version(client.get()) == TLS1_2_VERSION);
  CHECK(std::string(SSL_get_cipher_name(client.get())) == "ECDHE-ECDSA-AES128-GCM-SHA256");
  const SSL_SESSION* session = SSL_get0_session(client.get());
  REQUIRE(session != nullptr);
  CHECK(SSL_SESSION_has_ticket(session) == 0);
}

TEST_CASE("A client limited to TLS 1.1 is refused", "[libsec][tls]") {
  Server server;
  const auto legacy = legacy_client_context(TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
  const SslHandle client(SSL_new(legacy.get()));
  const auto server_connection = server.connection();
  const auto handshake = run_handshake(client.get(), server_connection.get());
  CHECK_FALSE(handshake.server_done);
  CHECK_FALSE(handshake.client_done);
  CHECK_THAT(handshake.server_error, Catch::Contains("unsupported protocol"));
}

TEST_CASE("A client offering only CBC suites is refused", "[libsec][tls]") {
  Server server;
  const auto legacy =
      legacy_client_context(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA");
  const SslHandle client(SSL_new(legacy.get()));
  const auto server_connection = server.connection();
  const auto handshake = run_handshake(client.get(), server_connection.get());
  CHECK_FALSE(handshake.server_done);
  CHECK_FALSE(handshake.client_done);
  CHECK_THAT(handshake.server_error, Catch::Contains("no shared cipher"));
}

TEST_CASE("The policy's client refuses a server that offers only CBC suites", "[libsec][tls]") {
  TemporaryDirectory state("tls-policy");
  const auto paths = ensure_device_certificate(state.path(), "VM0123456789").value();
  const SslContextHandle legacy(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_max_proto_version(legacy.get(), TLS1_2_VERSION);
  REQUIRE(SSL_CTX_set_cipher_list(legacy.get(), "ECDHE-ECDSA-AES128-SHA256") == 1);
  REQUIRE(SSL_CTX_use_certificate_file(legacy.get(), paths.certificate.c_str(), SSL_FILETYPE_PEM) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(legacy.get(), paths.key.c_str(), SSL_FILETYPE_PEM) == 1);
  const auto client_context = make_client_tls_context(std::nullopt);
  REQUIRE(client_context);
  const auto client = new_connection(*client_context);
  const SslHandle server_connection(SSL_new(legacy.get()));
  const auto handshake = run_handshake(client.get(), server_connection.get());
  CHECK_FALSE(handshake.client_done);
  CHECK_FALSE(handshake.server_done);
}

TEST_CASE("With a CA file, the chain and the peer's name are verified", "[libsec][tls]") {
  Server server;
  // The generated certificate is self-signed, so it can serve as its own CA file.
  const auto client_context = make_client_tls_context(server.paths.certificate);
  REQUIRE(client_context);
  CHECK_FALSE(requires_pin_check((*client_context)->native_handle()));
  const auto connect = [&](const char* expected_name) {
    const auto client = new_connection(*client_context);
    if (expected_name != nullptr) REQUIRE(set_expected_peer_name(client.get(), expected_name));
    const auto server_connection = server.connection();
    const auto handshake = run_handshake(client.get(), server_connection.get());
    return std::make_pair(handshake.succeeded(), SSL_get_verify_result(client.get()));
  };
  SECTION("a name in the certificate") {
    CHECK(connect("localhost") == std::make_pair(true, long{X509_V_OK}));
    CHECK(connect("LOCALHOST") == std::make_pair(true, long{X509_V_OK}));
  }
  SECTION("an address in the certificate") { CHECK(connect("127.0.0.1") == std::make_pair(true, long{X509_V_OK})); }
  SECTION("another name") {
    CHECK(connect("meter-7.site.example") == std::make_pair(false, long{X509_V_ERR_HOSTNAME_MISMATCH}));
  }
  SECTION("another address") {
    CHECK(connect("10.0.0.7") == std::make_pair(false, long{X509_V_ERR_IP_ADDRESS_MISMATCH}));
  }
  SECTION("no expected name at all") {
    CHECK(connect(nullptr) == std::make_pair(false, long{X509_V_ERR_APPLICATION_VERIFICATION}));
  }
}

TEST_CASE("With a CA file, a certificate it did not issue is refused", "[libsec][tls]") {
  Server server;
  TemporaryDirectory other("tls-policy");
  const auto other_paths = ensure_device_certificate(other.path(), "VM0000000002").value();
  const auto client_context = make_client_tls_context(other_paths.certificate);
  REQUIRE(client_context);
  const auto client = new_connection(*client_context);
  REQUIRE(set_expected_peer_name(client.get(), "localhost"));
  const auto server_connection = server.connection();
  const auto handshake = run_handshake(client.get(), server_connection.get());
  CHECK_FALSE(handshake.client_done);
  CHECK(SSL_get_verify_result(client.get()) == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  CHECK_THAT(handshake.client_error, Catch::Contains("certificate verify failed"));
}

TEST_CASE("Context errors name the file at fault", "[libsec][tls]") {
  TemporaryDirectory state("tls-policy");
  const auto paths = ensure_device_certificate(state.path(), "VM0123456789").value();

  const auto missing_ca = make_client_tls_context(state.path() / "missing-ca.pem");
  REQUIRE_FALSE(missing_ca);
  CHECK_THAT(missing_ca.error(), Catch::Contains("missing-ca.pem does not exist"));
  test::write_text(state.path() / "empty-ca.pem", "no certificates here\n");
  const auto empty_ca = make_client_tls_context(state.path() / "empty-ca.pem");
  REQUIRE_FALSE(empty_ca);
  CHECK_THAT(empty_ca.error(), Catch::Contains("empty-ca.pem holds no usable PEM certificate"));

  const auto missing_certificate = make_server_tls_context(state.path() / "none.pem", paths.key);
  REQUIRE_FALSE(missing_certificate);
  CHECK_THAT(missing_certificate.error(), Catch::Contains("none.pem does not exist"));
  const auto missing_key = make_server_tls_context(paths.certificate, state.path() / "none-key.pem");
  REQUIRE_FALSE(missing_key);
  CHECK_THAT(missing_key.error(), Catch::Contains("none-key.pem does not exist"));

  TemporaryDirectory other("tls-policy");
  const auto other_paths = ensure_device_certificate(other.path(), "VM0000000002").value();
  const auto mismatched = make_server_tls_context(paths.certificate, other_paths.key);
  REQUIRE_FALSE(mismatched);
  CHECK_THAT(mismatched.error(),
             Catch::Contains(other_paths.key.string() + " is not the key of " + paths.certificate.string()));
}

TEST_CASE("A server certificate with a key too weak for the policy is refused", "[libsec][tls]") {
  TemporaryDirectory state("tls-policy");
  const sec::KeyHandle weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024)));
  REQUIRE(weak);
  const auto certificate = test::make_test_certificate(weak.get(), -1, 30);
  REQUIRE(certificate);
  test::write_pair(state.path() / "cert.pem", certificate.get(), state.path() / "key.pem", weak.get());
  const auto context = make_server_tls_context(state.path() / "cert.pem", state.path() / "key.pem");
  REQUIRE_FALSE(context);
  CHECK_THAT(context.error(), Catch::Contains("cert.pem") && Catch::Contains("too small"));
}

TEST_CASE("A server certificate file may carry its chain", "[libsec][tls]") {
  TemporaryDirectory state("tls-policy");
  const auto paths = ensure_device_certificate(state.path(), "VM0123456789").value();
  const sec::KeyHandle other_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  const auto extra = test::make_test_certificate(other_key.get(), -1, 30, "intermediate");
  REQUIRE(extra);
  const auto chain_file = state.path() / "chain.pem";
  test::write_text(chain_file, test::read_text(paths.certificate) + certificate_pem(extra.get()).value());
  const auto context = make_server_tls_context(chain_file, paths.key);
  REQUIRE(context);
  STACK_OF(X509)* chain = nullptr;
  REQUIRE(SSL_CTX_get0_chain_certs((*context)->native_handle(), &chain) == 1);
  CHECK(sk_X509_num(chain) == 1);

  test::write_text(chain_file, test::read_text(paths.certificate) +
                                   "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                   "-----END CERTIFICATE-----\n");
  const auto broken = make_server_tls_context(chain_file, paths.key);
  REQUIRE_FALSE(broken);
  CHECK_THAT(broken.error(), Catch::Contains("chain.pem holds no readable PEM certificate chain"));
}

TEST_CASE("An expected peer name must be a host name or an address", "[libsec][tls]") {
  const auto context = make_client_tls_context(std::nullopt);
  REQUIRE(context);
  const auto client = new_connection(*context);
  CHECK(set_expected_peer_name(client.get(), "[fd00::7]"));
  CHECK(set_expected_peer_name(client.get(), "fd00::7"));
  CHECK_FALSE(set_expected_peer_name(client.get(), ""));
  CHECK_FALSE(set_expected_peer_name(client.get(), "*.site.example"));
  CHECK_FALSE(set_expected_peer_name(client.get(), "meter 7"));
}
